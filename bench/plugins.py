"""Third-party schemes and attacks: load plugin modules and entry points into ppbench's registries.

A plugin is a Python module that registers on import (``@register_scheme`` / ``@register_attack``), or a
class that ppbench registers for it. Three ways in (docs/plugins.md):

- the entry-point groups ``ppbench.schemes`` and ``ppbench.attacks`` of installed distributions (the value
  names a module, or a :class:`~ppbench.schemes.Scheme` / :class:`~ppbench.attacks.Attack` subclass);
- ``ppbench --plugin MODULE`` (repeatable; a module name or a path to a ``.py`` file);
- the environment variable ``PPBENCH_PLUGINS``: module names or ``.py`` paths separated by commas or
  ``os.pathsep``, for modules that are not installed (child processes inherit it).

When: the registries of schemes and attacks call :func:`autoload` the first time they are listed or miss
a name, so library code sees plugins too, without importing them at ``import ppbench.schemes``; the CLI
calls :func:`load_plugins` at start (with its ``--plugin`` modules). Set ``PPBENCH_DISABLE_PLUGIN_AUTOLOAD``
to any non-empty value to skip entry points (explicit modules still load), e.g. to rule out a broken one.

A broken plugin (import error, an exception while importing, an entry point naming a missing object or
something that is neither a module nor a subclass of the group's base class, a name that is already
taken) logs ONE warning naming it and the reason; what it had registered is removed and ppbench runs on.
Loading is idempotent: each plugin is tried once per process. This module imports neither
:mod:`ppbench.schemes` nor :mod:`ppbench.attacks`: those packages announce their group here
(:func:`register_group`), which keeps the import graph free of cycles.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import os
import re
import sys
import threading
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from .registry import NameClashError, Registry, registering_from

__all__ = ["PluginLoad", "load_plugins", "autoload", "register_group", "loaded_plugins", "env_modules",
           "ENV_VAR", "DISABLE_ENV_VAR", "GROUPS"]

log = logging.getLogger("ppbench.plugins")

ENV_VAR = "PPBENCH_PLUGINS"
DISABLE_ENV_VAR = "PPBENCH_DISABLE_PLUGIN_AUTOLOAD"
GROUPS = ("ppbench.schemes", "ppbench.attacks")


@dataclass(frozen=True)
class PluginLoad:
    """The outcome of loading one plugin: what it is, where it came from, what it registered, or why not."""

    name: str  # the module, file or entry point ("ppbench.schemes: pixperm = pkg.mod:Cls")
    source: str  # "argument", "PPBENCH_PLUGINS" or "entry point"
    origin: str  # the label its registry entries carry: the distribution, module or file name
    registered: tuple[str, ...] = ()  # "scheme pixperm", "attack mean_image", ...
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class _Group:
    registry: Registry[Any]
    base: type
    register: Callable[[Any], Any]


_GROUP_KINDS: dict[str, _Group] = {}
_BASES = {"ppbench.schemes": "ppbench.schemes.Scheme", "ppbench.attacks": "ppbench.attacks.Attack"}
_LOADS: dict[str, PluginLoad] = {}
_IN_PROGRESS: set[str] = set()  # a plugin that lists a registry while it imports must not load itself again
_LOCK = threading.RLock()


def register_group(group: str, *, registry: Registry[Any], base: type, register: Callable[[Any], Any]) -> None:
    """Announce an entry-point group: a class named by one of its entry points must subclass ``base``
    and is registered with ``register``; ``registry`` loads plugins lazily through :func:`autoload`."""
    _GROUP_KINDS[group] = _Group(registry, base, register)
    registry.set_loader(autoload)


def env_modules(value: str | None = None) -> list[str]:
    """The modules named by ``PPBENCH_PLUGINS`` (or ``value``): comma- or ``os.pathsep``-separated."""
    text = os.environ.get(ENV_VAR, "") if value is None else value
    return [part.strip() for part in re.split(f"[,{re.escape(os.pathsep)}]", text) if part.strip()]


def load_plugins(modules: Iterable[str | os.PathLike[str]] = (), *, entry_points: bool = True) -> list[PluginLoad]:
    """Load ``modules`` (names or ``.py`` paths), then ``PPBENCH_PLUGINS``'s, then (``entry_points``) every
    entry point of :data:`GROUPS`; returns one :class:`PluginLoad` per plugin. Idempotent: a plugin already
    tried is not tried again (its first outcome is returned), so a broken one warns once."""
    with _LOCK:
        loads = [_load_module(str(m), "argument") for m in modules]
        loads += [_load_module(m, ENV_VAR) for m in env_modules()]
        if entry_points:
            loads += [_load_entry_point(group, ep) for group, ep in _entry_points()]
        return loads


def autoload() -> None:
    """What the registries call on first use: ``PPBENCH_PLUGINS`` and, unless disabled, entry points."""
    load_plugins(entry_points=not os.environ.get(DISABLE_ENV_VAR))


def loaded_plugins() -> list[PluginLoad]:
    """Every plugin tried in this process, in order."""
    with _LOCK:
        return list(_LOADS.values())


# -- internals ----------------------------------------------------------------------------------------------
def _entry_points() -> list[tuple[str, importlib.metadata.EntryPoint]]:
    found = []
    for group in GROUPS:
        seen = set()
        for ep in importlib.metadata.entry_points(group=group):
            if (ep.name, ep.value) not in seen:  # one distribution on sys.path twice lists its entry points twice
                seen.add((ep.name, ep.value))
                found.append((group, ep))
    return found


def _is_path(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or os.sep in spec


def _load_module(spec: str, source: str) -> PluginLoad:
    if _is_path(spec):
        path = Path(spec).expanduser().resolve()
        key, origin = f"file {path}", path.name
        target: Callable[[], Any] = lambda: _import_file(path)  # noqa: E731
    else:
        key, origin = f"module {spec}", spec
        target = lambda: importlib.import_module(spec)  # noqa: E731
    label = f"plugin {spec!r} ({'--plugin' if source == 'argument' else source})"
    return _record(key, lambda: _run(label, spec, source, origin, target))


def _load_entry_point(group: str, ep: importlib.metadata.EntryPoint) -> PluginLoad:
    key = f"entry point {group}: {ep.name} = {ep.value}"
    dist = getattr(ep, "dist", None)
    origin = dist.name if dist is not None and getattr(dist, "name", None) else ep.module
    label = f"plugin {origin!r} (entry point {ep.name!r} = {ep.value!r} in group {group!r})"

    def target() -> Any:
        obj = ep.load()
        if isinstance(obj, types.ModuleType):
            return obj  # a module: it registered on import
        kind = _GROUP_KINDS.get(group)
        if kind is None or not isinstance(obj, type) or not issubclass(obj, kind.base):
            raise _PluginError(f"it names {_describe(obj)}, not a module or a subclass of {_BASES[group]}")
        kind.register(obj)
        return obj

    return _record(key, lambda: _run(label, f"{ep.name} = {ep.value}", "entry point", origin, target))


def _run(label: str, name: str, source: str, origin: str, target: Callable[[], Any]) -> PluginLoad:
    """Import/register under ``origin``; on any failure undo its registrations and warn once."""
    with registering_from(origin) as added:
        try:
            target()
        except Exception as exc:  # noqa: BLE001 - a plugin may raise anything; ppbench runs on
            for registry, entry in added:
                try:
                    registry.unregister(entry)
                except KeyError:
                    pass
            reason = _reason(exc)
            log.warning("ppbench: %s not loaded: %s", label, reason)
            return PluginLoad(name=name, source=source, origin=origin, error=reason)
    registered = tuple(f"{registry.what} {entry}" for registry, entry in added)
    log.debug("ppbench: %s registered %s", label, ", ".join(registered) or "nothing new")
    return PluginLoad(name=name, source=source, origin=origin, registered=registered)


def _record(key: str, load: Callable[[], PluginLoad]) -> PluginLoad:
    """Run ``load`` once per ``key`` and keep its outcome (a nested request while it runs gets a no-op)."""
    if key in _LOADS:
        return _LOADS[key]
    if key in _IN_PROGRESS:
        return PluginLoad(name=key, source="nested", origin="")
    _IN_PROGRESS.add(key)
    try:
        _LOADS[key] = load()
    finally:
        _IN_PROGRESS.discard(key)
    return _LOADS[key]


class _PluginError(Exception):
    """An entry point that names something ppbench cannot register (the message is the reason)."""


def _reason(exc: BaseException) -> str:
    """One line: why a plugin did not load, and what fixes it where we can tell."""
    text = " ".join(str(exc).split())
    if isinstance(exc, (_PluginError, NameClashError)):
        return text
    if isinstance(exc, ModuleNotFoundError):
        return f"{text}; install it, or put its folder on PYTHONPATH"
    if isinstance(exc, AttributeError) and text.startswith("module ") and "has no attribute" in text:
        return f"{text}; fix the entry point's object name"
    where = "" if isinstance(exc, SyntaxError) else _last_frame(exc)  # a SyntaxError names its file and line
    return f"{type(exc).__name__} while loading it{where}: {text}" if text else f"{type(exc).__name__} while loading it{where}"


def _last_frame(exc: BaseException) -> str:
    """`` (file.py:line)`` of the innermost frame outside Python's import machinery, or ''."""
    tb = exc.__traceback__
    last = None
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith("<"):
            last = tb
        tb = tb.tb_next
    if last is None:
        return ""
    return f" ({Path(last.tb_frame.f_code.co_filename).name}:{last.tb_lineno})"


def _describe(obj: Any) -> str:
    if isinstance(obj, type):
        return f"class {obj.__module__}.{obj.__qualname__}"
    return f"a {type(obj).__name__} ({obj!r:.60})"


def _import_file(path: Path) -> Any:
    """Import a ``.py`` file as the module named by its stem (kept in ``sys.modules``, so pickling works)."""
    if not path.is_file():
        raise _PluginError(f"no such file {path}; give an existing .py file or an importable module name")
    name = path.stem
    if not name.isidentifier():
        raise _PluginError(f"{path.name} is not an importable module name; rename the file (letters, digits, _)")
    existing = sys.modules.get(name)
    if existing is not None:
        if Path(getattr(existing, "__file__", "") or "").resolve() == path:
            return existing
        raise _PluginError(f"a module named {name!r} is already imported from {getattr(existing, '__file__', '?')}; "
                           "rename the plugin file")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise _PluginError(f"cannot import {path}; give a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
