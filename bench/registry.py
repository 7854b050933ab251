"""One small generic registry shared by schemes, attacks, networks and profiles.

Strict like lm-evaluation-harness (a name registered twice for a different object raises), named like
timm (``list_*`` takes fnmatch wildcards and sorts naturally), and an unknown name is answered with the
closest registered names.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from typing import Any, Callable, Generic, Iterable, TypeVar

from .errors import PPBenchError

T = TypeVar("T")


class UnknownNameError(PPBenchError, KeyError):
    """Raised for a name that is not registered; the message lists close matches."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


def _natural_key(name: str) -> list[Any]:
    """Sort key putting ``resnet2`` before ``resnet10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


class Registry(Generic[T]):
    """A mapping from lower-case names to registered objects of one kind (``what``)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, T] = {}

    def register(self, name: str, obj: T) -> T:
        key = name.lower()
        if key in self._entries and self._entries[key] is not obj:
            raise ValueError(f"{self.what} {name!r} is already registered to a different object")
        self._entries[key] = obj
        return obj

    def decorator(self, name: str | None = None) -> Callable[[T], T]:
        """``@registry.decorator()`` registers under the object's ``__name__`` (or ``name``)."""

        def wrap(obj: T) -> T:
            return self.register(name or getattr(obj, "__name__"), obj)

        return wrap

    def get(self, name: str) -> T:
        key = str(name).lower()
        if key not in self._entries:
            raise UnknownNameError(self.unknown_message(name))
        return self._entries[key]

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(str(name).lower(), self._entries, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.what} {name!r}.{hint} Available: {', '.join(self.names())}."

    def names(self, pattern: str | Iterable[str] = "*", exclude: str | Iterable[str] = ()) -> list[str]:
        """Registered names matching any of ``pattern`` and none of ``exclude`` (fnmatch wildcards)."""
        patterns = [pattern] if isinstance(pattern, str) else list(pattern)
        excludes = [exclude] if isinstance(exclude, str) else list(exclude)
        found = [
            n
            for n in self._entries
            if any(fnmatch.fnmatchcase(n, p.lower()) for p in patterns)
            and not any(fnmatch.fnmatchcase(n, e.lower()) for e in excludes)
        ]
        return sorted(found, key=_natural_key)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __len__(self) -> int:
        return len(self._entries)


def drop_none(kwargs: dict[str, Any]) -> dict[str, Any]:
    """timm's rule: a keyword left as ``None`` means "use the variant's default"."""
    return {k: v for k, v in kwargs.items() if v is not None}
