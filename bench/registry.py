"""One small generic registry shared by schemes, attacks, networks and profiles.

Strict like lm-evaluation-harness (a name registered twice for a different object raises), named like
timm (``list_*`` takes fnmatch wildcards and sorts naturally), and an unknown name is answered with the
closest registered names. Every entry keeps its origin (``builtin`` or the plugin that registered it), and
a registry can load plugins lazily (:meth:`Registry.set_loader`; see :mod:`ppbench.plugins`).
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import fnmatch
import re
from typing import Any, Callable, Generic, Iterable, Iterator, TypeVar

from .errors import PPBenchError

T = TypeVar("T")

BUILTIN = "builtin"
"""The origin of everything ppbench itself registers (``ppbench list`` shows each entry's origin)."""

_ORIGIN: contextvars.ContextVar[tuple[str, list[tuple["Registry[Any]", str]]] | None] = contextvars.ContextVar(
    "ppbench_registry_origin", default=None)


class NameClashError(PPBenchError, ValueError):
    """A name registered a second time for a different object (e.g. a plugin reusing a built-in name)."""


@contextlib.contextmanager
def registering_from(origin: str) -> Iterator[list[tuple["Registry[Any]", str]]]:
    """Attribute what is registered inside the block to ``origin`` (a plugin's distribution or module);
    yields the list of ``(registry, name)`` pairs the block newly registered under that origin (to undo a
    failed plugin; ppbench's own entries, registered when a plugin first imports ppbench, are not listed)."""
    added: list[tuple[Registry[Any], str]] = []
    token = _ORIGIN.set((origin, added))
    try:
        yield added
    finally:
        _ORIGIN.reset(token)


def origin_of(obj: Any) -> str:
    """Where ``obj`` comes from: ``builtin`` for ppbench's own modules, else the plugin being loaded
    (:func:`registering_from`), else the object's module."""
    module = str(getattr(obj, "__module__", "") or "")
    if module == "ppbench" or module.startswith("ppbench."):
        return BUILTIN
    context = _ORIGIN.get()
    return context[0] if context is not None else (module or "unknown")


class UnknownNameError(PPBenchError, KeyError):
    """Raised for a name that is not registered; the message lists close matches."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


def _natural_key(name: str) -> list[Any]:
    """Sort key putting ``resnet2`` before ``resnet10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


class Registry(Generic[T]):
    """A mapping from lower-case names to registered objects of one kind (``what``), each with its origin.

    ``loader`` (optional, also settable with :meth:`set_loader`) is called once, the first time the
    registry is listed or misses a name: ppbench uses it to load plugins lazily.
    """

    def __init__(self, what: str, *, loader: Callable[[], Any] | None = None) -> None:
        self.what = what
        self._entries: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._loader = loader
        self._loaded = False

    def register(self, name: str, obj: T, *, origin: str | None = None) -> T:
        """Register ``obj`` under ``name`` (case-insensitive); the same object again is a no-op.

        ``origin`` defaults to :func:`origin_of` (``builtin`` for ppbench's own objects)."""
        key = name.lower()
        if key in self._entries:
            if self._entries[key] is not obj:
                raise NameClashError(
                    f"{self.what} {name!r} is already registered to a different object (from {self._origins[key]}); "
                    f"register yours under another name")
            return obj
        self._entries[key] = obj
        self._origins[key] = origin or origin_of(obj)
        context = _ORIGIN.get()
        if context is not None and self._origins[key] == context[0]:  # the plugin's own, not ppbench's
            context[1].append((self, key))
        return obj

    def unregister(self, name: str) -> T:
        """Remove ``name`` and return its object (tests, and undoing a plugin that failed half-way)."""
        key = str(name).lower()
        if key not in self._entries:
            raise UnknownNameError(self.unknown_message(name))
        self._origins.pop(key, None)
        return self._entries.pop(key)

    def decorator(self, name: str | None = None) -> Callable[[T], T]:
        """``@registry.decorator()`` registers under the object's ``__name__`` (or ``name``)."""

        def wrap(obj: T) -> T:
            return self.register(name or getattr(obj, "__name__"), obj)

        return wrap

    def set_loader(self, loader: Callable[[], Any] | None) -> None:
        """Call ``loader`` once, before the first listing or the first miss (see the class docstring)."""
        self._loader = loader
        self._loaded = False

    def _load(self) -> None:
        if self._loader is not None and not self._loaded:
            self._loaded = True  # first: a loader that lists this registry must not recurse
            self._loader()

    def get(self, name: str) -> T:
        key = str(name).lower()
        if key not in self._entries:
            self._load()
        if key not in self._entries:
            raise UnknownNameError(self.unknown_message(name))
        return self._entries[key]

    def origin(self, name: str) -> str:
        """Where ``name`` comes from: ``builtin``, or the plugin (distribution or module) that registered it."""
        key = str(name).lower()
        self.get(key)  # loads plugins on a miss; unknown names raise
        return self._origins[key]

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(str(name).lower(), self._entries, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.what} {name!r}.{hint} Available: {', '.join(self.names())}."

    def names(self, pattern: str | Iterable[str] = "*", exclude: str | Iterable[str] = ()) -> list[str]:
        """Registered names matching any of ``pattern`` and none of ``exclude`` (fnmatch wildcards)."""
        self._load()
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
        if not isinstance(name, str):
            return False
        if name.lower() not in self._entries:
            self._load()
        return name.lower() in self._entries

    def __len__(self) -> int:
        self._load()
        return len(self._entries)


def drop_none(kwargs: dict[str, Any]) -> dict[str, Any]:
    """timm's rule: a keyword left as ``None`` means "use the variant's default"."""
    return {k: v for k, v in kwargs.items() if v is not None}
