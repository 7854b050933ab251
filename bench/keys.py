"""Secret keys: a 256-bit secret from the OS CSPRNG, and every permutation and bit derived from it.

A key file stores the scheme, its parameters, a format version and the secret (hex). Each sub-key
(a block permutation, a pixel permutation, negation bits, ...) is drawn from its own SHAKE-256 stream
whose input starts with a domain-separation label naming the scheme, the parameters and the sub-key,
so two sub-keys never share randomness. Integers are drawn without bias by rejection sampling from
64-bit words and permutations by Fisher-Yates; the draw order is fixed here (a format version), so the
same secret always gives the same key material.

No API takes a small integer seed: experiments that must repeat store the key file.

Key files (format version 2) are protected as a whole: ``checksum`` is the SHA-256 of the canonical JSON
(sorted keys, no spaces) of every other field (format, version, scheme, params, key_id, secret), so an
edited scheme or size, a deleted or added field, or a damaged secret is refused on load. Version-1 files
(no checksum) are refused with the command that seals them as version 2 (``ppbench keygen --upgrade K``),
since an edit to their scheme or sizes could not be detected. Like OpenSSH, a key file that group or
others can access is refused on POSIX with the ``chmod 600`` fix (ppbench writes key files 0600).
Creating a key file is exclusive: of several processes writing one path at once, exactly one succeeds.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shlex
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write_json, remove_stale
from .errors import KeyFileError

KEY_FORMAT = "ppbench-key"
KEY_FORMAT_VERSION = 2  # 2: adds the checksum; 1 is read only by `ppbench keygen --upgrade`
SECRET_BYTES = 32
_DOMAIN = b"ppbench/key-derivation/v1"


class KeyStream:
    """An endless, deterministic byte stream: SHAKE-256 over (domain, label, secret)."""

    def __init__(self, secret: bytes, label: str) -> None:
        self._xof = hashlib.shake_256(_DOMAIN + b"\x00" + label.encode() + b"\x00" + secret)
        self._buffer = b""
        self._pos = 0

    def read(self, n: int) -> bytes:
        end = self._pos + n
        if end > len(self._buffer):  # SHAKE output is prefix-consistent: ask for a longer digest
            self._buffer = self._xof.digest(max(end, 2 * len(self._buffer), 1024))
        out = self._buffer[self._pos : end]
        self._pos = end
        return out

    def words(self, n: int) -> np.ndarray:
        """``n`` uniform 64-bit words (little-endian)."""
        return np.frombuffer(self.read(8 * n), dtype="<u8").astype(np.uint64)

    def integers(self, bounds: np.ndarray | int, count: int | None = None) -> np.ndarray:
        """Uniform integers ``0 <= v < bound`` for each bound, without modulo bias.

        Each draw takes the next 64-bit word; a word at or above the largest multiple of its bound
        below 2**64 is rejected and redrawn (rejected positions are refilled in order, from the words
        that follow in the stream).
        """
        bounds = np.full(count, bounds, dtype=np.uint64) if count is not None else np.asarray(bounds, np.uint64)
        if bounds.size and int(bounds.min()) < 1:
            raise ValueError("every bound must be at least 1")
        limit = (np.uint64(2**64 - 1) // bounds) * bounds  # accept words < limit (2**64-1 itself is never needed)
        out = np.empty(bounds.shape, dtype=np.uint64)
        todo = np.arange(bounds.size)
        while todo.size:
            w = self.words(todo.size)
            ok = w < limit[todo]
            out[todo[ok]] = w[ok] % bounds[todo[ok]]
            todo = todo[~ok]
        return out.astype(np.int64)

    def permutations(self, count: int, n: int) -> np.ndarray:
        """``count`` independent uniform permutations of ``range(n)`` (Fisher-Yates, shape (count, n))."""
        perms = np.tile(np.arange(n, dtype=np.int64), (count, 1))
        if n < 2:
            return perms
        # Step i (i = n-1 .. 1) swaps position i with a uniform j in [0, i]; draws are row-major.
        bounds = np.tile(np.arange(n, 1, -1, dtype=np.uint64), count)
        draws = self.integers(bounds).reshape(count, n - 1)
        rows = np.arange(count)
        for step, i in enumerate(range(n - 1, 0, -1)):
            j = draws[:, step]
            held = perms[rows, i].copy()
            perms[rows, i] = perms[rows, j]
            perms[rows, j] = held
        return perms

    def permutation(self, n: int) -> np.ndarray:
        return self.permutations(1, n)[0]

    def bits(self, count: int) -> np.ndarray:
        return self.integers(2, count).astype(bool)


def _normalise_params(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in sorted(params.items()):
        if value is None:
            continue
        out[name] = [int(v) for v in value] if isinstance(value, (list, tuple)) else int(value)
    return out


def _describe(scheme: str, params: dict[str, Any]) -> str:
    parts = [f"scheme {scheme!r}"]
    if "image_size" in params:
        h, w = params["image_size"]
        parts.append(f"image {h}x{w}")
    if "block_size" in params:
        parts.append(f"block {params['block_size']}")
    return ", ".join(parts)


@dataclass(frozen=True, repr=False)
class SchemeKey:
    """A scheme's secret key: the scheme it belongs to, its parameters, and 256 secret bits.

    The secret never appears in ``repr``/``str``; :attr:`key_id` is a one-way fingerprint safe to log.
    """

    scheme: str
    params: dict[str, Any]
    secret: bytes = field(compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) != SECRET_BYTES:
            raise KeyFileError(f"a key secret must be {SECRET_BYTES} bytes; generate one with `ppbench keygen`")
        object.__setattr__(self, "params", _normalise_params(self.params))

    @classmethod
    def generate(cls, scheme: str, **params: Any) -> "SchemeKey":
        """A fresh key from the OS CSPRNG (``secrets.token_bytes``)."""
        return cls(scheme=scheme, params=params, secret=secrets.token_bytes(SECRET_BYTES))

    @property
    def key_id(self) -> str:
        """A 64-bit fingerprint of the secret (SHA-256 with its own label): identifies, reveals nothing."""
        return hashlib.sha256(b"ppbench/key-id\x00" + self.secret).hexdigest()[:16]

    def stream(self, subkey: str) -> KeyStream:
        """The stream of one sub-key, its label binding scheme, parameters and sub-key name."""
        label = json.dumps({"scheme": self.scheme, "params": self.params, "subkey": subkey}, sort_keys=True)
        return KeyStream(self.secret, label)

    def describe(self) -> str:
        return _describe(self.scheme, self.params)

    def __repr__(self) -> str:
        return f"SchemeKey({self.describe()}, key_id={self.key_id}, secret=<hidden>)"

    __str__ = __repr__

    def check(self, scheme: str, params: dict[str, Any], source: str = "the key") -> None:
        """Refuse a key made for another scheme or other parameters, naming both and the fix."""
        wanted = _normalise_params(params)
        if self.scheme != scheme:
            raise KeyFileError(
                f"{source} was made for {self.describe()}, not for scheme {scheme!r}; "
                f"make a key for it with `ppbench keygen --scheme {scheme} --out KEY.json`"
            )
        if self.scheme != scheme or any(self.params.get(k) != v for k, v in wanted.items()):
            raise KeyFileError(
                f"{source} was made for {self.describe()}, not {_describe(scheme, {**self.params, **wanted})}; "
                f"make a matching key with `ppbench keygen --scheme {scheme}"
                + (f" --image-size {wanted['image_size'][0]}" if "image_size" in wanted else "")
                + (f" --block-size {wanted['block_size']}" if "block_size" in wanted else "")
                + " --out KEY.json`"
            )

    # -- files -------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        body = {
            "format": KEY_FORMAT,
            "format_version": KEY_FORMAT_VERSION,
            "scheme": self.scheme,
            "params": self.params,
            "key_id": self.key_id,
            "secret": self.secret.hex(),
        }
        return {**body, "checksum": _checksum(body)}

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the key file atomically with mode 0600; create it exclusively unless ``overwrite``."""
        path = Path(path)
        if path.is_dir():
            raise KeyFileError(f"key path {path} is a folder; name a file, e.g. {path / 'key.json'}")
        if (path.exists() or path.is_symlink()) and not overwrite:
            raise KeyFileError(f"key file {path} already exists; choose another path or pass --overwrite")
        remove_stale(path)
        try:
            atomic_write_json(path, self.to_json(), mode=0o600, exclusive=not overwrite)
        except FileExistsError:
            raise KeyFileError(f"key file {path} was created by another process meanwhile; nothing was written: "
                               "choose another path or pass --overwrite") from None
        except OSError as exc:
            raise KeyFileError(f"cannot write key file {path} ({exc.strerror or type(exc).__name__}); choose a "
                               "folder you can write to") from None
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SchemeKey":
        """Read a version-2 key file, refusing one that others can read, that was edited, or that is damaged."""
        path = Path(path)
        raw = _read_key_json(path)
        if raw.get("format_version") == 1:
            hint = _v1_hint(raw)
            raise KeyFileError(
                f"key file {path} is in format version 1, which cannot detect an edited scheme or size{hint}; if it "
                f"is the key you made, seal it as version 2 with `ppbench keygen --upgrade {shlex.quote(str(path))}`"
            )
        if raw.get("format_version") != KEY_FORMAT_VERSION:
            raise KeyFileError(
                f"key file {path} has format version {raw.get('format_version')!r}; this ppbench reads version "
                f"{KEY_FORMAT_VERSION}: use the ppbench release that wrote it"
            )
        missing = [f for f in ("scheme", "params", "key_id", "secret", "checksum") if f not in raw]
        if missing:
            raise KeyFileError(f"key file {path} lacks {', '.join(missing)}; it was edited or damaged: restore it from "
                               "a backup (data encrypted with it needs the original) or make a new one with `ppbench keygen`")
        body = {k: v for k, v in raw.items() if k != "checksum"}
        if raw["checksum"] != _checksum(body):
            raise KeyFileError(f"key file {path} was edited or damaged (its checksum does not match its contents); "
                               "restore it from a backup (data encrypted with it needs the original) or make a new "
                               "one with `ppbench keygen`")
        return cls._from_fields(path, raw)

    @classmethod
    def _from_fields(cls, path: Path, raw: dict[str, Any]) -> "SchemeKey":
        """The key a file's fields describe, its key_id checked against its secret."""
        try:
            secret = bytes.fromhex(raw["secret"])
            params = raw.get("params", {})
            if not isinstance(params, dict):
                raise TypeError("params")
            key = cls(scheme=str(raw["scheme"]), params=dict(params), secret=secret)
        except (KeyError, ValueError, TypeError, KeyFileError):
            raise KeyFileError(f"key file {path} is corrupt (bad secret or fields); regenerate it with `ppbench keygen`") from None
        if raw.get("key_id") != key.key_id:
            raise KeyFileError(f"key file {path} is corrupt (its key_id does not match its secret); restore it from a "
                               "backup or regenerate it with `ppbench keygen`")
        return key

    @classmethod
    def upgrade(cls, path: str | os.PathLike) -> "SchemeKey":
        """Rewrite a version-1 key file as version 2 in place (same secret, same key_id, mode 0600).

        Version 1 has no checksum, so the scheme and sizes are sealed as they stand: the caller shows
        them so the user can confirm they are the ones the key was made for.
        """
        path = Path(path)
        raw = _read_key_json(path)
        if raw.get("format_version") == KEY_FORMAT_VERSION:
            raise KeyFileError(f"key file {path} is already in format version {KEY_FORMAT_VERSION}; nothing to upgrade")
        if raw.get("format_version") != 1:
            raise KeyFileError(f"key file {path} has format version {raw.get('format_version')!r}; only version 1 "
                               "can be upgraded: use the ppbench release that wrote it")
        if "key_id" not in raw:
            raise KeyFileError(f"key file {path} lacks its key_id, so its secret cannot be checked; restore it from a "
                               "backup or make a new one with `ppbench keygen`")
        key = cls._from_fields(path, raw)
        key.save(path, overwrite=True)
        return key


def _checksum(body: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a key file's fields other than the checksum."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _check_private(path: Path, mode: int) -> None:
    """Refuse a key file that group or others can access, as OpenSSH does (POSIX only)."""
    if os.name == "posix" and mode & 0o077:
        who = "readable" if mode & 0o044 else "writable"
        raise KeyFileError(f"key file {path} is {who} by group or others (mode {stat.S_IMODE(mode):04o}); a secret "
                           f"key must be private: run `chmod 600 {shlex.quote(str(path))}`")


def _read_key_json(path: Path) -> dict[str, Any]:
    """A key file's JSON object, after checking it exists, is a private file, and is a ppbench key file."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} not found; make one with `ppbench keygen --scheme S --out {path}`") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path} ({exc.strerror or type(exc).__name__}); check the path") from None
    if stat.S_ISDIR(info.st_mode):
        raise KeyFileError(f"key file {path} is a folder; give the key file itself (made by `ppbench keygen`)")
    _check_private(path, info.st_mode)
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyFileError(f"key file {path} is not readable JSON ({type(exc).__name__}); regenerate it with `ppbench keygen`") from None
    if not isinstance(raw, dict) or raw.get("format") != KEY_FORMAT:
        raise KeyFileError(f"{path} is not a ppbench key file; make one with `ppbench keygen`")
    return raw


def _v1_hint(raw: dict[str, Any]) -> str:
    """What a version-1 file claims to be for, so the user can check it before sealing it."""
    try:
        return f" (it says {_describe(str(raw['scheme']), _normalise_params(dict(raw.get('params', {}))))})"
    except (KeyError, TypeError, ValueError):
        return ""
