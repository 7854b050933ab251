"""The security verdict of Table I: a stated rule on the strongest attack's SSIM, never typed in.

Rule: a scheme is **secure** (the paper's check mark) when the strongest attack's mean SSIM over the
test images is **below** T; otherwise it is **not secure** (the paper's cross). The strongest attack is
the one with the highest mean SSIM among the ciphertext-only attacks recorded for the scheme and
profile (means over seeds first): the paper's threat model. An attack's SSIM is the largest of its
output's, its colour-inverted output's and its mirrored output's: an attack that restores the negative or
the mirror image has broken the scheme (GAN against LE restores negatives, SSIM -0.37 as it stands, 0.5
inverted; pooled recovers EtC's key up to a left-right mirror that no image statistic settles). Known-plaintext attacks are shown beside
the verdict, never in it. With no attack recorded there is no verdict (an empty cell and a note).

Why T = 0.30 by default (``--ssim-threshold`` changes it; the report prints the value it used):

- The seed paper gives no threshold: its verdict is qualitative ("some visual information was
  restored" for LE and PE, none for EtC, ELE and the proposed scheme), and the SSIM values it prints
  under Fig. 4 are part of the figure, not of the paper's text that ppbench transcribes,
  so T cannot be read off the paper. It is calibrated instead on what SSIM means for CIFAR-sized images,
  measured with scikit-image's SSIM defaults (ppbench's ``skimage`` preset) on 200 test images of the
  real CIFAR-10 subset (32 x 32):

  ========================================================  =====
  image compared with the plain one                          SSIM
  ========================================================  =====
  ciphertexts of le, ele, etc, pe, pe_np, proposed (M = 4)   -0.01 to 0.06
  the data set's mean image (a guess that knows nothing)      0.13
  Gaussian blur, sigma 2 / 1.5 / 1 pixel                      0.23 / 0.29 / 0.45
  heavy noise (sigma 75) / the 8 x 8 thumbnail (4x4 means)    0.30 / 0.60
  ========================================================  =====

- So T = 0.30 sits well above what an attacker gets without learning anything about the image (a
  ciphertext or the mean image: at most 0.13) and at the level of a sigma-1.5 blur, where an object's
  coarse layout starts to show. "Secure" therefore means: the best attack restores less structure than
  a strongly blurred copy of the plain image. Restorations judged "restored" in the attack papers
  (recognisable shapes and colours) are at or above the blur-1 and thumbnail levels.
- Revisit T when Fig. 4's printed values are transcribed; it is one number in one place.
"""

from __future__ import annotations

import math

DEFAULT_SSIM_THRESHOLD = 0.30


def is_secure(strongest_ssim: float | None, threshold: float = DEFAULT_SSIM_THRESHOLD) -> bool | None:
    """True when ``strongest_ssim < threshold``; None when there is no attack result to judge."""
    if strongest_ssim is None or (isinstance(strongest_ssim, float) and math.isnan(strongest_ssim)):
        return None
    return bool(strongest_ssim < threshold)


def rule_text(threshold: float = DEFAULT_SSIM_THRESHOLD) -> str:
    """The rule in one sentence, with the threshold actually used, for every report."""
    return (f"secure (✓) when the strongest attack's mean SSIM (the highest mean over the test images among "
            f"the ciphertext-only attacks recorded for the scheme and profile, the paper's threat model; each attack's "
            f"output also scored colour-inverted and mirrored, the best reading counting) is below T = {threshold:.2f}, not secure (✗) "
            f"otherwise; set T with --ssim-threshold (default {DEFAULT_SSIM_THRESHOLD:.2f}, justified in "
            f"ppbench.reports.security)")
