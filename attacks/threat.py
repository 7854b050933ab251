"""Threat models, the attacker's view of the data, and the keys an attacker draws itself.

An attack declares one :class:`ThreatModel`; the evaluator builds an :class:`AttackerView` holding exactly
what that threat model grants (docs/threat-models.md), so no attack can touch the victim's key or
plaintexts by accident. Split from :mod:`ppbench.attacks.base`, which re-exports every name here.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from typing import Any, Callable

import torch

from ppbench.errors import InputError, PPBenchError
from ppbench.keys import SECRET_BYTES, KeyStream, SchemeKey

# -- threat models -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Access:
    """What an attacker holds besides the algorithm (which is public) and the ciphertexts it attacks.

    ``victim_ciphertexts``: the victim's training images encrypted with the victim's key (what the
    cloud holds), unpaired. ``public_images``: natural plain images of the same domain, the attacker's
    own, disjoint from the victim's test images. ``own_keys``: keys of the attacker's own choosing (to
    encrypt its own images). ``victim_plaintexts``: the plain images behind ``victim_ciphertexts``,
    paired (known-plaintext). ``victim_key``: the victim's key itself. ``encryption_oracle``: encryptions
    under the victim's key of images the attacker chose (chosen-plaintext), counted, ciphertexts only.
    ``victim_labels``: the class labels of ``victim_ciphertexts`` (the cloud that trains the classifier
    holds them), aligned with them; never the plain images behind them.
    """

    victim_ciphertexts: bool = False
    public_images: bool = False
    own_keys: bool = False
    victim_plaintexts: bool = False
    victim_key: bool = False
    encryption_oracle: bool = False
    victim_labels: bool = False


class ThreatModel(enum.Enum):
    """The threat models ppbench knows; the value is the name records carry."""

    CIPHERTEXT_ONLY = "ciphertext_only"
    CIPHERTEXT_ONLY_MANY = "ciphertext_only_many"
    CIPHERTEXT_ONLY_UNPAIRED_PLAIN = "ciphertext_only_unpaired_plain"
    CIPHERTEXT_ONLY_UNPAIRED_PLAIN_LABELS = "ciphertext_only_unpaired_plain_labels"
    CIPHERTEXT_ONLY_OWN_KEYS = "ciphertext_only_own_keys"
    KNOWN_PLAINTEXT = "known_plaintext"
    CHOSEN_PLAINTEXT = "chosen_plaintext"
    KNOWN_KEY = "known_key"

    @property
    def access(self) -> Access:
        return _ACCESS[self]

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]

    @classmethod
    def parse(cls, value: "str | ThreatModel") -> "ThreatModel":
        """Normalise a name or member on entry; an unknown name fails at once, listing the known ones."""
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise InputError(f"unknown threat model {value!r}; known: {', '.join(m.value for m in cls)}") from None

    def __str__(self) -> str:
        return self.value


_ACCESS = {
    ThreatModel.CIPHERTEXT_ONLY: Access(),
    ThreatModel.CIPHERTEXT_ONLY_MANY: Access(victim_ciphertexts=True),
    ThreatModel.CIPHERTEXT_ONLY_UNPAIRED_PLAIN: Access(victim_ciphertexts=True, public_images=True),
    ThreatModel.CIPHERTEXT_ONLY_UNPAIRED_PLAIN_LABELS: Access(victim_ciphertexts=True, public_images=True,
                                                             victim_labels=True),
    ThreatModel.CIPHERTEXT_ONLY_OWN_KEYS: Access(public_images=True, own_keys=True),
    ThreatModel.KNOWN_PLAINTEXT: Access(victim_ciphertexts=True, victim_plaintexts=True, public_images=True),
    ThreatModel.CHOSEN_PLAINTEXT: Access(encryption_oracle=True),
    ThreatModel.KNOWN_KEY: Access(victim_key=True),
}
_DESCRIPTIONS = {
    ThreatModel.CIPHERTEXT_ONLY: "one ciphertext at a time, nothing else",
    ThreatModel.CIPHERTEXT_ONLY_MANY: "many victim-key ciphertexts of the victim's training images, nothing else",
    ThreatModel.CIPHERTEXT_ONLY_UNPAIRED_PLAIN: (
        "victim-key ciphertexts of the victim's training images (unpaired) and the attacker's own plain images"
    ),
    ThreatModel.CIPHERTEXT_ONLY_UNPAIRED_PLAIN_LABELS: (
        "victim-key ciphertexts of the victim's training images with their class labels (the cloud's data), and the "
        "attacker's own plain images (unlabelled), unpaired"
    ),
    ThreatModel.CIPHERTEXT_ONLY_OWN_KEYS: "the attacker's own plain images, encrypted with keys it draws itself",
    ThreatModel.KNOWN_PLAINTEXT: "victim-key ciphertexts paired with their plain images (known-plaintext)",
    ThreatModel.CHOSEN_PLAINTEXT: "the attacker obtains encryptions of images it chose, under the victim's key (chosen-plaintext)",
    ThreatModel.KNOWN_KEY: "the victim's key (not an attack: an upper bound for testing the pipeline)",
}


class NotApplicableError(InputError):
    """An attack asked to attack a scheme it has no method for (see :meth:`Attack.applicable`)."""


class ThreatModelError(PPBenchError, AttributeError):
    """An attack asked for data its declared threat model does not grant."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# -- the attacker's view ---------------------------------------------------------------------------------
#: view field -> the Access flag that grants it
VIEW_FIELDS: dict[str, str] = {
    "victim_ciphertexts": "victim_ciphertexts",
    "public_images": "public_images",
    "new_scheme": "own_keys",
    "victim_plaintexts": "victim_plaintexts",
    "victim_scheme": "victim_key",
    "encryption_oracle": "encryption_oracle",
    "victim_labels": "victim_labels",
}


class AttackerView:
    """Exactly the data one threat model allows, plus the public facts every attacker knows.

    Always present: ``threat_model``, ``scheme_name``, ``image_size``, ``block_size`` (the algorithm
    and its public parameters) and ``generator`` (a seeded ``torch.Generator`` for the attacker's own
    randomness). Granted by the threat model (see :data:`VIEW_FIELDS`): ``victim_ciphertexts`` and
    ``public_images`` / ``victim_plaintexts`` (uint8 N x 3 x H x W), ``new_scheme()`` (a scheme under a
    key freshly drawn by the attacker), ``victim_scheme``, ``encryption_oracle`` (an
    :class:`~ppbench.attacks.oracle.EncryptionOracle`), ``victim_labels`` (int64 N, the labels of
    ``victim_ciphertexts``). Anything else is absent.
    """

    __slots__ = ("threat_model", "scheme_name", "image_size", "block_size", "generator", "_data")

    def __init__(
        self,
        threat_model: ThreatModel | str,
        *,
        scheme_name: str,
        image_size: int,
        block_size: int | None,
        generator: torch.Generator,
        **data: Any,
    ) -> None:
        self.threat_model = ThreatModel.parse(threat_model)
        self.scheme_name = scheme_name
        self.image_size = int(image_size)
        self.block_size = block_size
        self.generator = generator
        access = self.threat_model.access
        for name in data:
            if name not in VIEW_FIELDS:
                raise InputError(f"unknown attacker-view field {name!r}; known: {', '.join(VIEW_FIELDS)}")
            if not getattr(access, VIEW_FIELDS[name]):
                raise ThreatModelError(
                    f"threat model {self.threat_model.value!r} does not grant {name!r}; "
                    "the evaluator must not put it into the view"
                )
        missing = [n for n, flag in VIEW_FIELDS.items() if getattr(access, flag) and n not in data]
        if missing:
            raise InputError(f"threat model {self.threat_model.value!r} grants {missing} but the view lacks them")
        self._data = dict(data)

    def __getattr__(self, name: str) -> Any:  # only called when normal lookup fails
        if name.startswith("__") or name == "_data":
            raise AttributeError(name)
        data = object.__getattribute__(self, "_data")
        if name in data:
            return data[name]
        if name in VIEW_FIELDS:
            tm = object.__getattribute__(self, "threat_model")
            raise ThreatModelError(
                f"{name!r} is not available to an attacker under threat model {tm.value!r} ({tm.description})"
            )
        raise AttributeError(f"AttackerView has no field {name!r}; fields: {', '.join(self.fields)}")

    @property
    def fields(self) -> list[str]:
        """The granted data fields of this view."""
        return list(self._data)

    def encrypt_with_fresh_keys(self, images: torch.Tensor) -> torch.Tensor:
        """Encrypt each image with its own freshly drawn key (own-keys threat models only)."""
        new_scheme = self.new_scheme  # raises ThreatModelError unless granted
        out = torch.empty_like(images)
        for i in range(images.shape[0]):
            out[i : i + 1] = new_scheme().encrypt(images[i : i + 1])
        return out

    def __repr__(self) -> str:
        shapes = {k: tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__ for k, v in self._data.items()}
        return f"AttackerView({self.threat_model.value}, scheme={self.scheme_name}, {shapes})"


class KeySource:
    """The attacker's own keys (and the wrong-key baseline's): one 256-bit secret from the OS CSPRNG,
    stretched with SHAKE-256 into a new key per draw (label ``"<purpose>/<i>"``).

    Never a seed: pass ``secret`` only to repeat a run exactly (the evaluator keeps it, mode 0600, in
    the run folder as ``attacks/attacker_secret.json``); otherwise a fresh one is drawn.
    """

    def __init__(self, secret: bytes | None = None, purpose: str = "attacker") -> None:
        self.secret = secret if secret is not None else secrets.token_bytes(SECRET_BYTES)
        if len(self.secret) != SECRET_BYTES:
            raise InputError(f"a key source needs a {SECRET_BYTES}-byte secret")
        self.purpose = purpose
        self.drawn = 0

    def new_key(self, scheme_name: str, image_size: int, block_size: int | None) -> SchemeKey:
        from ppbench.schemes import generate_key, scheme_info

        block = block_size if scheme_info(scheme_name).block_wise else None
        template = generate_key(scheme_name, image_size=image_size, block_size=block)  # validates the geometry
        secret = KeyStream(self.secret, f"ppbench/{self.purpose}/{self.drawn}").read(SECRET_BYTES)
        self.drawn += 1
        return SchemeKey(scheme=template.scheme, params=template.params, secret=secret)

    def new_scheme(self, scheme_name: str, image_size: int, block_size: int | None) -> Any:
        from ppbench.schemes import create_scheme

        return create_scheme(scheme_name, key=self.new_key(scheme_name, image_size, block_size))

    def __repr__(self) -> str:
        return f"KeySource(purpose={self.purpose!r}, drawn={self.drawn}, secret=<hidden>)"


def build_view(
    threat_model: ThreatModel | str,
    *,
    scheme: Any,
    victim_train: torch.Tensor,
    public_images: torch.Tensor,
    generator: torch.Generator,
    key_source: KeySource | None = None,
    encrypt_victim: Callable[[torch.Tensor], torch.Tensor] | None = None,
    victim_labels: torch.Tensor | None = None,
) -> AttackerView:
    """Build the view the threat model allows from the evaluator's data; nothing else is computed.

    ``scheme`` is the victim's scheme (with its key), ``victim_train`` the victim's plain training
    images, ``public_images`` the attacker's own plain images. ``encrypt_victim`` (default
    ``scheme.encrypt``) makes the victim-key ciphertexts, e.g. with JPEG compression afterwards.
    ``victim_labels`` (the class labels of ``victim_train``) goes in only where the threat model grants it,
    and must be given there.
    """
    tm = ThreatModel.parse(threat_model)
    access = tm.access
    name, size, block = scheme.info.name, scheme.image_size[0], scheme.block_size
    data: dict[str, Any] = {}
    if access.victim_ciphertexts:
        data["victim_ciphertexts"] = (encrypt_victim or scheme.encrypt)(victim_train)
    if access.victim_plaintexts:
        data["victim_plaintexts"] = victim_train
    if access.public_images:
        data["public_images"] = public_images
    if access.victim_labels:
        if victim_labels is None or tuple(victim_labels.shape) != (victim_train.shape[0],):
            got = "none" if victim_labels is None else f"shape {tuple(victim_labels.shape)}"
            raise InputError(f"threat model {tm.value!r} grants the victim's labels but build_view got {got}; pass "
                             f"victim_labels=, one int64 label per victim training image ({victim_train.shape[0]})")
        data["victim_labels"] = victim_labels.long()
    if access.own_keys:
        keys = key_source if key_source is not None else KeySource()
        data["new_scheme"] = lambda: keys.new_scheme(name, size, block)
    if access.victim_key:
        data["victim_scheme"] = scheme
    if access.encryption_oracle:
        from .oracle import EncryptionOracle

        data["encryption_oracle"] = EncryptionOracle(encrypt_victim or scheme.encrypt, size)
    return AttackerView(tm, scheme_name=name, image_size=size, block_size=block, generator=generator, **data)


