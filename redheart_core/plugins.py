"""The plugin manager: built-ins and entry points, loaded one at a time, failures isolated.

Built-in parts register through exactly the same hooks as third-party packages. Each entry
point in the ``redheart`` group is imported and registered on its own; an import error, a
hookimpl that fails pluggy's validation or a misspelled hook name is recorded against that
distribution and shown by ``redheart plugins`` instead of crashing the CLI.
``REDHEART_STRICT_PLUGINS=1`` re-raises (for plugin authors' CI) and
``REDHEART_LOAD_PLUGINS=a,b`` loads only those distributions (empty: none).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.metadata
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import pluggy

from . import hookspecs
from .errors import ConfigError, PluginError

ENTRY_POINT_GROUP = "redheart"

log = logging.getLogger("redheart.plugins")

#: plugin kind -> registration hook
KINDS: dict[str, str] = {
    "llm_backends": "redheart_register_llm_backends",
    "analyzers": "redheart_register_analyzers",
    "memory_strategies": "redheart_register_memory_strategies",
    "translators": "redheart_register_translators",
}

KIND_LABELS = {
    "llm_backends": "LLM backend",
    "analyzers": "analyzer",
    "memory_strategies": "memory strategy",
    "translators": "translator",
}

#: built-in plugins, registered first and exactly like entry points: (plugin name, module)
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("builtin-llm", "redheart_core.llm.plugin"),
    ("builtin-analyzers", "redheart_core.analyzers.plugin"),
    ("builtin-memory", "redheart_core.memory.plugin"),
)

CORE_DISTRIBUTION = "redheart-core"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Registration:
    """One registered backend, analyzer, memory strategy or translator."""

    kind: str
    name: str
    factory: Callable[..., Any]
    options: type | None
    description: str
    plugin: str
    distribution: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def requires(self) -> tuple[str, ...]:
        return tuple(self.extra.get("requires", ()))

    @property
    def label(self) -> str:
        return f"{KIND_LABELS[self.kind]} {self.name!r}"


@dataclass
class PluginInfo:
    """What ``redheart plugins`` shows for one plugin."""

    name: str
    distribution: str
    version: str
    builtin: bool
    hooks: list[str] = field(default_factory=list)
    registers: dict[str, list[str]] = field(default_factory=dict)
    #: kind -> name -> the one-line description the plugin registered it with
    descriptions: dict[str, dict[str, str]] = field(default_factory=dict)
    status: str = "ok"  # ok | error | disabled
    error: str | None = None

    def matches(self, name: str) -> bool:
        """Whether ``name`` is this plugin's name or its distribution's (``redheart-plugins-X``
        for ``X``): the best guess at what a plugin that never loaded would have registered."""
        wanted = _normalise(name)
        dist = _normalise(self.distribution)
        return wanted in (_normalise(self.name), dist) or dist.endswith(f"-{wanted}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def hook_names() -> list[str]:
    """Every hook a plugin may implement, by its full name."""
    return sorted(n for n in dir(hookspecs) if n.startswith("redheart_"))


def _strict() -> bool:
    return os.environ.get("REDHEART_STRICT_PLUGINS", "") not in ("", "0", "false", "no")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _selected_distributions() -> set[str] | None:
    raw = os.environ.get("REDHEART_LOAD_PLUGINS")
    if raw is None:
        return None
    return {_normalise(part) for part in raw.split(",") if part.strip()}


def _core_version() -> str:
    from . import __version__

    return __version__


class PluginRegistry:
    """Loads plugins and holds what they registered, by kind and name.

    ``disabled`` names plugins (entry-point or built-in plugin names), distributions, or single
    registered names (``emotion``) to leave out.
    """

    def __init__(self, disabled: Iterable[str] = (), *, entry_points: bool = True):
        self.disabled = {_normalise(d) for d in disabled}
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self._order: list[str] = []
        self._registrations: dict[str, dict[str, Registration]] = {k: {} for k in KINDS}
        self._clashes: dict[tuple[str, str], list[Registration]] = {}
        #: kind -> name -> why it is left out (the plugins.disabled entry that blocks it)
        self._disabled: dict[str, dict[str, str]] = {k: {} for k in KINDS}
        #: observer hook -> (label, caller) per implementing plugin (see :meth:`notify`)
        self._observers: dict[str, list[tuple[str, Callable[..., Any]]]] = {}
        for name, module in BUILTIN_PLUGINS:
            self._load_builtin(name, module)
        if entry_points:
            self._load_entry_points()
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:  # pragma: no cover - caught per plugin first
            self._fail(self._plugin_name_of(exc.plugin), f"unknown hook: {exc}", exc)
        self._collect()

    # ----------------------------------------------------------------- loading
    def _is_disabled(self, *names: str) -> bool:
        return any(_normalise(n) in self.disabled for n in names if n)

    def _fail(self, plugin_name: str, message: str, exc: BaseException | None = None) -> None:
        info = self.infos[plugin_name]
        info.status = "error"
        info.error = message if info.error is None else f"{info.error}; {message}"
        if _strict():
            raise PluginError(f"plugin {plugin_name!r} ({info.distribution}): {message}") from exc

    def _plugin_name_of(self, plugin: object) -> str:
        return self.pm.get_name(plugin) or "?"

    def _load_builtin(self, name: str, module: str) -> None:
        info = PluginInfo(name, CORE_DISTRIBUTION, _core_version(), builtin=True)
        self.infos[name] = info
        try:
            obj = importlib.import_module(module)
        except Exception as exc:
            self._fail(name, f"import failed: {type(exc).__name__}: {exc}", exc)
            return
        if self._is_disabled(name):
            info.status = "disabled"
            self._note_disabled(name, obj)  # built-ins are cheap to ask what they would register
            return
        self._register(name, obj)

    def _load_entry_points(self) -> None:
        selected = _selected_distributions()
        seen: set[tuple[str, str]] = set()
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist is not None else "?"
            version = ep.dist.version if ep.dist is not None else "?"
            if (ep.name, _normalise(dist)) in seen:  # the same distribution found twice on the path
                continue
            seen.add((ep.name, _normalise(dist)))
            if selected is not None and _normalise(dist) not in selected and _normalise(ep.name) not in selected:
                continue
            if ep.name in self.infos:
                other = self.infos[ep.name]
                message = (
                    f"plugin name {ep.name!r} is used by both {other.distribution} and {dist}; "
                    "uninstall one or select one with REDHEART_LOAD_PLUGINS"
                )
                self.infos[f"{ep.name} ({dist})"] = PluginInfo(ep.name, dist, version, builtin=False)
                self._fail(f"{ep.name} ({dist})", message)
                continue
            info = PluginInfo(ep.name, dist, version, builtin=False)
            self.infos[ep.name] = info
            if self._is_disabled(ep.name, dist):
                info.status = "disabled"
                continue
            try:
                obj = ep.load()
            except Exception as exc:
                self._fail(ep.name, f"import failed: {type(exc).__name__}: {exc}", exc)
                continue
            self._register(ep.name, obj)

    def _note_disabled(self, plugin_name: str, obj: object) -> None:
        """Remember what a disabled plugin would register, so a config naming it hears why."""
        pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        pm.add_hookspecs(hookspecs)
        pm.register(obj, name=plugin_name)
        for kind, hook in KINDS.items():

            def record(name: str, *args: Any, kind: str = kind, **kwargs: Any) -> None:
                self._disabled[kind][name] = f"its plugin {plugin_name!r} is in plugins.disabled"

            try:
                getattr(pm.hook, hook)(register=record)
            except Exception:  # it is disabled: what it would register is only a courtesy
                continue

    def register_plugin(self, obj: object, name: str, distribution: str = "(in-process)") -> PluginInfo:
        """Register a plugin object at run time (used by the ``redheart_plugin`` test fixture)."""
        if name in self.infos:
            raise PluginError(f"a plugin named {name!r} is already registered")
        self.infos[name] = PluginInfo(name, distribution, "0", builtin=False)
        self._register(name, obj)
        self._collect()
        return self.infos[name]

    def unregister_plugin(self, name: str) -> None:
        """Remove a plugin registered with :meth:`register_plugin` and what it registered."""
        if self.pm.has_plugin(name):
            self.pm.unregister(name=name)
        self.infos.pop(name, None)
        if name in self._order:
            self._order.remove(name)
        self._collect()

    def _register(self, name: str, obj: object) -> None:
        info = self.infos[name]
        try:
            self.pm.register(obj, name=name)
        except Exception as exc:  # pluggy.PluginValidationError, ValueError
            self._fail(name, f"invalid hook implementation: {exc}", exc)
            return
        unknown = []
        for caller in self.pm.get_hookcallers(obj) or []:
            impls = [i for i in caller.get_hookimpls() if i.plugin is obj]
            if not caller.has_spec() and not all(i.optionalhook for i in impls):
                unknown.append(caller.name)
        if unknown:
            self.pm.unregister(obj)
            for hook in unknown:
                hint = difflib.get_close_matches(hook, hook_names(), n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                self._fail(name, f"unknown hook {hook!r}{suggestion}")
            return
        info.hooks = sorted(c.name for c in self.pm.get_hookcallers(obj) or [])
        self._order.append(name)


    # ------------------------------------------------------------ registrations
    def _collect(self) -> None:
        """Ask every registered plugin, in load order, what it registers."""
        self._registrations = {k: {} for k in KINDS}
        self._clashes = {}
        self._observers = {}
        for plugin_name in self._order:
            obj = self.pm.get_plugin(plugin_name)
            info = self.infos[plugin_name]
            info.registers = {}
            info.descriptions = {}
            for caller in self.pm.get_hookcallers(obj) or []:
                kind = next((k for k, hook in KINDS.items() if hook == caller.name), None)
                if kind is None:
                    continue
                for impl in caller.get_hookimpls():
                    if impl.plugin is obj:
                        self._call_register_hook(plugin_name, kind, impl)

    def _call_register_hook(self, plugin_name: str, kind: str, impl: Any) -> None:
        info = self.infos[plugin_name]

        def register(name: str, factory: Callable[..., Any], options: type | None = None,
                     description: str = "", **kind_specific: Any) -> None:
            reg = self._validate_registration(kind, plugin_name, name, factory, options,
                                              description, kind_specific)
            if self._is_disabled(name):
                self._disabled[kind][name] = f"plugins.disabled names {name!r}"
                return
            info.registers.setdefault(kind, []).append(name)
            info.descriptions.setdefault(kind, {})[name] = reg.description
            existing = self._registrations[kind].get(name)
            if existing is not None:
                self._clashes.setdefault((kind, name), [existing]).append(reg)
                self._fail(plugin_name, f"{reg.label} is already registered by {existing.distribution} "
                           f"(plugin {existing.plugin!r}); {info.distribution} registers it too")
                return
            self._registrations[kind][name] = reg

        try:
            impl.function(**{arg: register for arg in impl.argnames})
        except Exception as exc:
            self._fail(plugin_name, f"{impl.function.__name__} failed: {type(exc).__name__}: {exc}", exc)

    def _validate_registration(self, kind, plugin_name, name, factory, options, description,
                               extra) -> Registration:
        where = f"{KIND_LABELS[kind]} {name!r}"
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise PluginError(f"{where}: a name must be letters, digits, '-', '_' or '.'")
        if not callable(factory):
            raise PluginError(f"{where}: factory must be callable, got {type(factory).__name__}")
        if options is not None and not (isinstance(options, type) and dataclasses.is_dataclass(options)):
            raise PluginError(f"{where}: options must be a dataclass type, got {options!r}")
        if "requires" in extra:
            req = extra["requires"]
            if isinstance(req, str) or not all(isinstance(r, str) for r in req):
                raise PluginError(f"{where}: requires must be a tuple of analyzer names")
            extra = {**extra, "requires": tuple(req)}
        return Registration(kind, name, factory, options, description or "", plugin_name,
                            self.infos[plugin_name].distribution, dict(extra))

    # ------------------------------------------------------------------ queries
    def names(self, kind: str) -> list[str]:
        return sorted(self._registrations[kind])

    def all(self, kind: str) -> list[Registration]:
        return [self._registrations[kind][n] for n in self.names(kind)]

    def get(self, kind: str, name: str, key: str = "") -> Registration:
        """The registration of ``name``, or a :class:`ConfigError` at ``key`` listing the choices."""
        clash = self._clashes.get((kind, name))
        if clash:
            dists = " and ".join(f"{r.distribution} (plugin {r.plugin!r})" for r in clash)
            raise ConfigError(key, f"{KIND_LABELS[kind]} {name!r} is registered by both {dists}; "
                              "disable one with plugins.disabled or REDHEART_LOAD_PLUGINS")
        try:
            return self._registrations[kind][name]
        except KeyError:
            pass
        if name in self._disabled[kind]:
            raise ConfigError(key, f"{KIND_LABELS[kind]} {name!r} is disabled: "
                              f"{self._disabled[kind][name]}; remove it there to use it",
                              choices=self.names(kind))
        owner = next((i for i in self.infos.values() if i.status == "error" and i.matches(name)), None)
        if owner is not None:
            raise ConfigError(key, f"{KIND_LABELS[kind]} {name!r} belongs to plugin {owner.name!r} "
                              f"({owner.distribution}), which failed to load: {owner.error}",
                              choices=self.names(kind))
        hint = difflib.get_close_matches(name, self.names(kind), n=1)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        raise ConfigError(key, f"unknown {KIND_LABELS[kind]} {name!r}{extra}{self._unloaded_note()}",
                          choices=self.names(kind))

    def _unloaded_note(self) -> str:
        """Plugins that may have registered a name but did not load, for an unknown-name error."""
        failed = [f"{i.name} ({i.distribution}): {i.error}" for i in self.infos.values()
                  if i.status == "error"]
        disabled = [f"{i.name} ({i.distribution})" for i in self.infos.values()
                    if i.status == "disabled" and not i.builtin]
        note = ""
        if failed:
            note += "; plugins that failed to load (one may provide it): " + "; ".join(failed)
        if disabled:
            note += "; plugins.disabled leaves out " + ", ".join(disabled) + ", which may provide it"
        return note

    def is_disabled(self, kind: str, name: str) -> bool:
        """Whether ``plugins.disabled`` leaves ``name`` out (by its name or its plugin's)."""
        return name in self._disabled[kind]

    def plugin_infos(self) -> list[PluginInfo]:
        return list(self.infos.values())

    def versions(self) -> dict[str, str]:
        """Loaded plugin name -> version, for a result's provenance."""
        return {i.name: i.version for i in self.infos.values() if i.status == "ok"}

    # ---------------------------------------------------------------- observers
    def notify(self, hook: str, **kwargs: Any) -> None:
        """Call the observer hook ``hook`` (``redheart_request_started`` ...) with ``kwargs``,
        each plugin on its own: one that raises is logged and neither breaks the caller nor
        keeps the other observers from hearing of it. When a plugin wraps the hook
        (``hookwrapper``), the hook is called once, as that plugin asked."""
        for label, call in self._observer_calls(hook):
            try:
                call(**kwargs)
            except Exception:
                log.exception("observer hook %s raised; the request goes on", label,
                              extra={"event": "hook_failed"})

    def _observer_calls(self, hook: str) -> list[tuple[str, Callable[..., Any]]]:
        """One caller per implementing plugin, in pluggy's call order (last registered first),
        each a subset of the hook holding that plugin alone; rebuilt when plugins change."""
        calls = self._observers.get(hook)
        if calls is None:
            caller = getattr(self.pm.hook, hook)
            impls = caller.get_hookimpls()
            if any(impl.hookwrapper or impl.wrapper for impl in impls):
                calls = [(f"{hook} (wrapped)", caller)]
            else:
                everyone = [impl.plugin for impl in impls]
                calls = [(f"{hook} of plugin {impl.plugin_name!r}",
                          self.pm.subset_hook_caller(hook, [p for p in everyone if p is not impl.plugin]))
                         for impl in reversed(impls)]
            self._observers[hook] = calls
        return calls


_cache: dict[tuple[str, ...], PluginRegistry] = {}


def get_registry(disabled: Iterable[str] = ()) -> PluginRegistry:
    """The process-wide registry for one ``plugins.disabled`` list (plugins load once)."""
    key = tuple(sorted(disabled))
    if key not in _cache:
        _cache[key] = PluginRegistry(key)
    return _cache[key]
