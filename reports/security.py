"""The security verdict of Table I: a stated rule on what the strongest attack restores, never typed in.

**The rule (ppbench's, version 2).** Each test image an attack restores is scored by its *best reading*:
the largest of its SSIM as it is, colour-inverted (255 - x) and mirrored left-right (a restored negative or
mirror image reveals the image as plainly; a GAN's sign can differ from image to image, so each image gets
its own reading). An image counts as *restored* when that SSIM is at least L = 0.30. An attack *restores*
a scheme when

1. the share of test images it restores is at least S = 0.25 (``share_restored`` in the record, mean over
   seeds), judged only where what carries no information about the image stays below S: a uniform grey
   image (``metrics.baselines.grey``, recorded since 2026-11-30; not the ciphertext, which may itself leak). At 224 x 224 on
   upscaled CIFAR-10 a grey image scores SSIM 0.53 and reaches L on 96 % of the images, so there the
   level cannot tell restored from not restored and this clause is silent; or
2. the study's plain-trained classifier recognises its output: its accuracy on the restored images is at
   least chance + R x (its accuracy on the plain test images - chance), R = 0.5 (``recognition_accuracy``,
   written by ``ppbench recognise``; only where recorded, and only where the same classifier is shown to
   stay below that level on the scheme's ciphertexts themselves, so that a classifier which recognises
   nothing, e.g. one that always guesses the same class, cannot mark anything restored).

A scheme is **secure** (the paper's check mark) when no ciphertext-only attack recorded for it (the paper's
threat model) restores it; otherwise **not secure** (the paper's cross). Known-plaintext attacks are shown
beside the verdict, never in it. With no attack recorded there is no verdict. Records written before the
evaluator wrote ``share_restored`` are judged by the old rule (below) and a note says which. Where the records
have shares but neither clause can judge (the baselines reach S, no recognition recorded), the verdict is
*undetermined* (``?``): SSIM cannot decide it at that size, and the old mean rule, which has the same
problem, is not used in its place.

**Why these numbers.** The attack papers' own verdicts calibrate them: outputs they call *restored* must
come out restored and outputs they call *not restored* must not. Per-image best-reading SSIM (ppbench's
``skimage`` preset) on the bundled sample's first 100 test images (32 x 32, block 4; fresh keys) and on the
committed cpu study (``results/reference-cpu``, rerun from scratch on 2026-12-01 with every restored image
kept), from ``scripts/calibrate_verdict.py``:

==============================================  ==============  =====  ======  ===========  ===========
case                                            papers say       n     median  share>=0.30  share>=0.20
==============================================  ==============  =====  ======  ===========  ===========
FR on the plain image itself (a perfect FR)     restored        100    0.48    0.76         0.89
FR on PE (fresh key)                            restored (PE)   100    0.35    0.66         0.80
FR on PE, committed study                       restored (PE)   100    0.36    0.66         0.80
GAN on LE, committed study                      restored        100    0.56    0.97         0.99
GAN on LE, committed study (abs. as-is reading) restored        100    --      0.73         --
ciphertexts of le/etc/ele/pe/pe_np/proposed     not restored    100    <=0.06  <=0.01       <=0.02
a uniform grey image (128)                      not restored    100    0.09    0.06         0.13
the test images' mean image                     not restored    100    0.12    0.05         0.17
a grey image at 224 x 224 (upscaled images)     not restored    100    0.53    0.96         --
proposed's ciphertexts at 224 x 224 / M16       not restored    100    0.19    0.15         --
==============================================  ==============  =====  ======  ===========  ===========

- L = 0.30 keeps the per-image meaning of the old T (a sigma-1.5 Gaussian blur of the plain image scores
  0.29 on the real CIFAR-10 images; the 8 x 8 thumbnail 0.60; what an attacker gets without learning
  anything, a ciphertext or the mean image, at most 0.13 in the mean).
- S = 0.25 separates the two groups with room on both sides: every not-restored case is at most 0.06
  (0.06 + 3 binomial standard deviations at n = 100 is 0.13), every restored case at least 0.66. It means:
  an attack breaks the scheme when it restores one test image in four at least as well as a strong blur.
- The old rule (mean SSIM of the strongest attack below T = 0.30, one reading for the whole set) could
  hardly fail: a perfect FR scores 0.31 as is in the mean over these 100 images (its other readings 0.05
  and 0.08), right at T, and PE's FR 0.227, so PE came out secure against the paper's attacks although the
  seed paper calls it insecure. Under this rule PE's FR
  restores 47 % of the images even on the as-is reading alone.
- R = 0.5: the classifier must get at least halfway from chance to its accuracy on plain images.
  Measured (``scripts/calibrate_verdict.py --n 100 --classifier RUN``, a cpu-profile plain resnet18_cpu,
  test accuracy 0.486, 0.58 on these 100 images), as the fraction of the way from chance it reaches: FR of
  the plain image 0.23, FR on pe_np 0.23, FR on PE 0.06 (restored, by the papers); the proposed scheme's
  own ciphertexts 0.33, the other schemes' ciphertexts -0.08 to 0.02, grey 0.00, the mean image -0.04
  (not restored). So no single R separates the two groups with this classifier (a CNN trained on plain
  images does not read FR's folded values, while the proposed scheme's ciphertexts keep colour
  statistics): at R = 0.5 nothing crosses, and recognition only adds a cross where an output is clearly
  recognised, never removes one. The committed study's own classifier (its plain ``vit_cpu``, 0.43 on these
  100 images) tells the same: FR of the plain image 0.18, FR on PE 0.00, the GAN on LE 0.06 (0.00 with each
  image in its best reading), against 1.06 on the proposed scheme's ciphertexts and at most 0.15 on the
  others'. A stronger classifier (the paper profile, on a GPU) may change that.
- The seed paper gives no threshold (its verdict is qualitative: "some visual information was restored"
  for LE and PE, none for EtC, ELE and the proposed scheme). Each number above is one constant here.

``--ssim-threshold T`` sets the old rule's T (shown beside the new verdict as "Mean rule" in ``table1.csv``,
and used for records without ``share_restored``); the new rule's L is the evaluator's, recorded in each
entry as ``restored_image_ssim``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_SSIM_THRESHOLD = 0.30
"""T of the old rule: mean SSIM of the strongest attack (best reading for the whole set) below T is secure."""
RESTORED_IMAGE_SSIM = 0.30
"""L: an image is restored when its best-reading SSIM is at least L (the evaluator records the share)."""
RESTORED_SHARE = 0.25
"""S: an attack restores a scheme when at least this share of the test images is restored."""
CALIBRATED_SIZES = frozenset({"32x32"})
"""Image sizes (``HxW``) at which L and S were calibrated (the table above): where a record has no grey baseline
(written before 2026-11-30), the share clause judges only at these sizes."""
BROKEN_SSIM = 0.99
"""An attack whose mean best-reading SSIM reaches this returns the images themselves (the break level of key
recovery on lossless ciphertexts): it restores the scheme at any size, whatever the share clause can judge."""
RECOGNISED_FRACTION = 0.5
"""R: an attack's output is recognised when the plain classifier's accuracy on it is at least
chance + R x (its accuracy on plain images - chance)."""


@dataclass(frozen=True)
class Evidence:
    """What the rule reads for one attack (means over seeds): the share of restored images, and the plain
    classifier's accuracy on the restored images with its chance level and its accuracy on plain images."""

    share_restored: float | None = None
    recognition_accuracy: float | None = None
    chance: float | None = None
    plain_accuracy: float | None = None
    encrypted_accuracy: float | None = None
    baseline_share: float | None = None  # the share a no-information baseline (a grey image) reaches
    ssim_best: float | None = None  # the attack's mean SSIM by its best reading
    calibrated_size: bool = True  # the records are at an image size L and S were calibrated at (CALIBRATED_SIZES)

    @property
    def share_level_separates(self) -> bool:
        """Whether the SSIM level L separates restored from not restored here: what carries no information about
        the image (recorded baselines) stays below S. Unknown baselines (older records): only at an image size
        the levels were calibrated at (at 224 x 224 a grey image reaches L on 96 % of the images)."""
        if _missing(self.baseline_share):
            return self.calibrated_size
        return self.baseline_share < RESTORED_SHARE

    @property
    def restored_by_share(self) -> bool | None:
        if _missing(self.share_restored) or not self.share_level_separates:
            return None
        return bool(self.share_restored >= RESTORED_SHARE)

    @property
    def recognition_level(self) -> float | None:
        """chance + R x (plain accuracy - chance): the accuracy at which the output counts as recognised."""
        if _missing(self.chance) or _missing(self.plain_accuracy):
            return None
        return self.chance + RECOGNISED_FRACTION * (self.plain_accuracy - self.chance)

    @property
    def recognised(self) -> bool | None:
        """Whether the classifier recognises the attack's output; None when it cannot judge: no numbers, a
        classifier no better than chance on plain images, or one not shown to fail on the ciphertexts
        themselves (their accuracy unknown, or already at the level: then it recognises something other than
        the image, e.g. a constant guess that happens to match the plain images' share of one class)."""
        level = self.recognition_level
        if level is None or _missing(self.recognition_accuracy) or self.plain_accuracy <= self.chance:
            return None
        if _missing(self.encrypted_accuracy) or self.encrypted_accuracy >= level:
            return None
        return bool(self.recognition_accuracy >= level)

    @property
    def broken(self) -> bool:
        """The attack's output is the image itself (mean best-reading SSIM >= :data:`BROKEN_SSIM`, an exact or
        near-exact key): restored at any image size, whatever a grey image scores."""
        return not _missing(self.ssim_best) and self.ssim_best >= BROKEN_SSIM

    @property
    def restores(self) -> bool | None:
        """True when the output is the image itself or either clause holds, False when the share clause judges
        and neither holds, None without a share or where the share clause is silent and recognition does not
        add a cross (recognition only ever adds one; see :attr:`undetermined`)."""
        if self.broken:
            return True
        by_share, recognised = self.restored_by_share, self.recognised
        if by_share is None:
            return True if recognised else None
        return bool(by_share or recognised)

    @property
    def undetermined(self) -> bool:
        """The record has a share, but a grey image reaches S and nothing else decides: SSIM cannot judge here."""
        return not _missing(self.share_restored) and self.restores is None


def attack_restores(evidence: Evidence) -> bool | None:
    """Whether one attack restores the scheme under the rule (None: the record has no per-image share)."""
    return evidence.restores


def verdict(evidence: list[Evidence]) -> bool | None:
    """Not secure (False) when some attack restores the scheme; secure (True) when none does and some attack is
    judged, none undetermined (attacks from older records without a share are passed over); None when no attack
    can be judged (older records only: then :func:`is_secure`, the old mean rule, decides) or some attack is
    undetermined (:attr:`Evidence.undetermined`)."""
    judged = [e.restores for e in evidence]
    if any(j is True for j in judged):
        return False
    if any(j is False for j in judged) and not any(e.undetermined for e in evidence):
        return True
    return None


def undetermined(evidence: list[Evidence]) -> bool:
    """No attack restores the scheme and some attack's share cannot be judged (a grey image reaches S there):
    Table I's "?"."""
    return verdict(evidence) is None and any(e.undetermined for e in evidence)


def is_secure(strongest_ssim: float | None, threshold: float = DEFAULT_SSIM_THRESHOLD) -> bool | None:
    """The old rule: True when ``strongest_ssim < threshold``; None when there is no attack result to judge."""
    if strongest_ssim is None or (isinstance(strongest_ssim, float) and math.isnan(strongest_ssim)):
        return None
    return bool(strongest_ssim < threshold)


def rule_text(threshold: float = DEFAULT_SSIM_THRESHOLD) -> str:
    """The rule in one paragraph, with its numbers and their calibration, for every report."""
    return (f"not secure (✗) when some ciphertext-only attack (the paper's threat model) restores the scheme, secure (✓) "
            f"otherwise. Each test image counts by its best SSIM reading (as it is, colour-inverted or mirrored: a restored "
            f"negative or mirror image reveals as much); an image is restored at SSIM >= L = {RESTORED_IMAGE_SSIM:.2f}, and "
            f"an attack restores the scheme when it restores at least S = {RESTORED_SHARE:.0%} of the test images (judged only "
            f"where a uniform grey image stays below S; where it does not, as at 224 x 224 on upscaled "
            f"images, the share decides nothing and the verdict is ? unless an attack returns the images themselves, "
            f"mean SSIM >= {BROKEN_SSIM:g}, or recognition adds a cross), or when "
            f"the study's plain-trained classifier, given its output, scores at least chance + {RECOGNISED_FRACTION:g} x "
            f"(its plain accuracy - chance) (where `ppbench recognise` recorded it and the classifier stays below that level on the ciphertexts themselves). Calibration (sample test images): "
            f"a perfect FR (FR of the plain image) restores 76 % of the images, FR on PE 66 %, the GAN on LE 97 % "
            f"(the committed study); ciphertexts at most 1 %, a grey image 6 %, the mean image 5 % "
            f"(ppbench.reports.security, scripts/calibrate_verdict.py). Records without the per-image share fall back "
            f"to the old rule, the strongest attack's mean SSIM below T = {threshold:.2f} (--ssim-threshold)")


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
