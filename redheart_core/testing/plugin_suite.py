"""What every conformance suite checks first: the plugin loads by name, once, with valid options.

A suite loads the plugin the way a user's config does, through the process-wide registry
(:func:`redheart_core.plugins.get_registry`), and builds it with :class:`redheart_core.runtime.Runtime`,
so what passes here is what ``redheart analyze`` will run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from typing import Any, ClassVar, Iterable, Iterator

import pytest
from omegaconf import OmegaConf

from ..config import RedheartConfig, validate_options
from ..errors import ConfigError
from ..plugins import KINDS, PluginRegistry, Registration, get_registry
from ..runtime import Runtime

#: modules that must not be imported when plugins register (``redheart --help`` stays fast)
HEAVY_MODULES = ("torch", "transformers", "sentence_transformers", "numpy", "anthropic", "openai")

#: the config subtree that holds each kind's options, and where its name is chosen
OPTIONS_KEY = {
    "analyzers": "analyzer_options.{name}",
    "llm_backends": "llm.options",
    "memory_strategies": "memory.options",
    "translators": "translation.options",
}


def approx_equal(a: Any, b: Any, *, rel: float = 1e-5, abs_: float = 1e-6) -> bool:
    """Plain data equal up to float noise (a batched matmul may differ in the last bits)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(approx_equal(a[k], b[k], rel=rel, abs_=abs_) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(approx_equal(x, y, rel=rel, abs_=abs_) for x, y in zip(a, b))
    return a == b


def json_problem(value: Any, where: str = "output") -> str | None:
    """Where ``value`` stops being plain JSON (dict/list/str/int/float/bool/None), or None."""
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where} is {value!r}, which JSON cannot hold"
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return f"{where} has the non-string key {k!r}"
            problem = json_problem(v, f"{where}.{k}")
            if problem:
                return problem
        return None
    if isinstance(value, list):
        for i, v in enumerate(value):
            problem = json_problem(v, f"{where}[{i}]")
            if problem:
                return problem
        return None
    return (f"{where} is a {type(value).__module__}.{type(value).__name__}; convert it to plain "
            "Python (float(x), x.tolist(), str(x)) before returning it")


_heavy_cache: dict[tuple[str, tuple[str, ...]], list[str]] = {}


def heavy_imports_at_registration(distribution: str, kind: str, name: str,
                                  disabled: tuple[str, ...] = ()) -> list[str]:
    """The heavy modules a fresh process has imported once the registry has loaded
    ``distribution`` (and the built-ins), the way ``redheart --help`` loads it.

    Cached per distribution: every registration of one distribution loads the same modules.
    """
    key = (distribution, tuple(disabled))
    if key not in _heavy_cache:
        env = {**os.environ}
        env.pop("REDHEART_STRICT_PLUGINS", None)
        env["REDHEART_LOAD_PLUGINS"] = "" if distribution == "redheart-core" else distribution
        _heavy_cache[key] = modules_imported_by(
            "from redheart_core.plugins import get_registry\n"
            f"get_registry({list(disabled)!r}).get({kind!r}, {name!r})", env=env)
    return _heavy_cache[key]


def modules_imported_by(code: str, modules: Iterable[str] = HEAVY_MODULES,
                        env: dict[str, str] | None = None) -> list[str]:
    """Which of ``modules`` a fresh interpreter has imported once it has run ``code``: the
    start-up cost a user pays, which an import in this (test) process cannot show."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps(sorted(m for m in {tuple(modules)!r} if m in sys.modules)))\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, f"running the code in a fresh process failed:\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


class PluginConformance:
    """Shared set-up and checks of the three suites. Subclass a suite, not this class.

    Set ``plugin_name`` to the registered name and ``options`` to the options a user would
    configure (``{}`` checks the defaults). Override the ``plugin_options`` fixture instead when
    the options depend on other fixtures (a stand-in server's URL, a temp path).
    """

    kind: ClassVar[str] = ""
    plugin_name: ClassVar[str] = ""
    options: ClassVar[dict[str, Any]] = {}
    #: ``plugins.disabled`` of the config the suite builds with
    disabled: ClassVar[tuple[str, ...]] = ()

    #: a plugin object (module or instance with hookimpls) registered for this class only;
    #: None checks what is installed
    plugin: ClassVar[Any] = None

    # ------------------------------------------------------------------ fixtures
    @pytest.fixture(scope="class")
    @classmethod
    def registry(cls) -> Iterator[PluginRegistry]:
        """The process-wide registry, as ``Pipeline.from_config`` would load it."""
        registry = get_registry(cls.disabled)
        name = f"conformance-{cls.plugin_name}"
        if cls.plugin is not None:
            registry.register_plugin(cls.plugin, name)
        try:
            yield registry
        finally:
            if cls.plugin is not None:
                registry.unregister_plugin(name)

    @pytest.fixture(scope="class")
    @classmethod
    def registration(cls, registry: PluginRegistry) -> Registration:
        assert cls.plugin_name, (
            f"{cls.__name__} sets no plugin_name: set plugin_name = '<the name you pass to "
            "register(...)>' on the class")
        assert cls.kind in KINDS, f"unknown plugin kind {cls.kind!r}"
        try:
            return registry.get(cls.kind, cls.plugin_name)
        except ConfigError as exc:
            failed = [f"{i.name} ({i.distribution}): {i.error}" for i in registry.plugin_infos()
                      if i.status == "error"]
            hint = ("; plugins that failed to load: " + "; ".join(failed)) if failed else (
                "; is the package installed (pip install -e .) with an entry point in the "
                "[project.entry-points.redheart] group, or set `plugin = <module>` on the class?")
            pytest.fail(f"{exc}{hint}", pytrace=False)

    @pytest.fixture(scope="class")
    @classmethod
    def plugin_options(cls) -> dict[str, Any]:
        """The options the suite configures; override (class-scoped) to compute them."""
        return dict(cls.options)

    @pytest.fixture(scope="class")
    @classmethod
    def runtime(cls, registry: PluginRegistry, registration: Registration,
                plugin_options: dict[str, Any]) -> Runtime:
        """A runtime for the config a user would write to select this plugin."""
        try:
            return Runtime(cls.make_config(registration, plugin_options), registry)
        except ConfigError as exc:
            pytest.fail(f"a config naming {registration.label} does not validate: {exc}",
                        pytrace=False)

    @classmethod
    def options_key(cls) -> str:
        return OPTIONS_KEY[cls.kind].format(name=cls.plugin_name)

    @classmethod
    def make_config(cls, registration: Registration, plugin_options: dict[str, Any]):
        """The config a user would write to select this plugin; each suite's ``config_patch``
        says which keys that is."""
        base = OmegaConf.structured(RedheartConfig)
        patch = cls.config_patch(registration, plugin_options)
        patch.setdefault("plugins", {"disabled": list(cls.disabled)})
        return OmegaConf.merge(base, patch)

    # ------------------------------------------------------------------ checks
    def test_registered_exactly_once_under_its_name(self, registry: PluginRegistry,
                                                     registration: Registration) -> None:
        owners = [i for i in registry.plugin_infos()
                  if self.plugin_name in i.registers.get(self.kind, [])]
        registrations = sum(i.registers.get(self.kind, []).count(self.plugin_name) for i in owners)
        assert registrations == 1, (
            f"{registration.label} is registered {registrations} times (by "
            f"{', '.join(f'{i.name} ({i.distribution})' for i in owners)}); call register("
            f"{self.plugin_name!r}, ...) once, from one plugin")
        assert registration.name == self.plugin_name
        info = registry.infos.get(registration.plugin)
        assert info is not None and info.status == "ok", (
            f"plugin {registration.plugin!r} that registers {registration.label} has status "
            f"{info.status if info else 'missing'}: {info.error if info else ''}; fix the error "
            "`redheart plugins` shows for it")

    def test_description_says_what_it_does(self, registration: Registration) -> None:
        assert isinstance(registration.description, str) and registration.description.strip(), (
            f"{registration.label} has no description; pass register(..., description='one "
            "line saying what it computes') so `redheart plugins` can show it")

    def test_options_dataclass_defaults_are_usable(self, registration: Registration) -> None:
        cls = registration.options
        if cls is None:
            return
        assert dataclasses.is_dataclass(cls), f"options of {registration.label} must be a dataclass"
        missing = [f.name for f in dataclasses.fields(cls)
                   if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        assert not missing, (
            f"options {self.__name__} of {registration.label} has fields without a default: "
            f"{missing}; give each a default so the plugin runs with an empty config (use "
            "Optional[...] = None for values a user must supply, and check them in the factory)")
        try:
            validate_options(cls, {}, self.options_key(), registration.label)
        except ConfigError as exc:
            pytest.fail(f"the default options of {registration.label} do not validate: {exc}; "
                        "use types OmegaConf supports (int, float, bool, str, Enum, Optional, "
                        "List, Dict, nested dataclasses)", pytrace=False)

    def test_configured_options_validate_and_unknown_ones_fail(
            self, registration: Registration, plugin_options: dict[str, Any]) -> None:
        key = self.options_key()
        try:
            node = validate_options(registration.options, plugin_options, key, registration.label)
        except ConfigError as exc:
            pytest.fail(f"the options this suite configures ({plugin_options}) do not validate: "
                        f"{exc}; fix `options` on {type(self).__name__} or the options dataclass",
                        pytrace=False)
        for name in plugin_options:
            assert name in node, f"option {name!r} was lost in validation"
        with pytest.raises(ConfigError) as info:
            validate_options(registration.options, {**plugin_options, "no_such_option_xyz": 1},
                             key, registration.label)
        assert info.value.key == f"{key}.no_such_option_xyz", (
            f"an unknown option must fail naming its full key, got {info.value.key!r}")

    def test_registration_imports_nothing_heavy(self, registration: Registration) -> None:
        if registration.distribution == "(in-process)":
            pytest.skip("registered in-process; the start-up check needs an installed distribution")
        heavy = heavy_imports_at_registration(registration.distribution, self.kind,
                                              self.plugin_name, self.disabled)
        assert not heavy, (
            f"registering {registration.label} ({registration.distribution}) imports {heavy}; "
            "import them inside the factory or the object's methods, not at the top of the "
            "module the entry point names, so `redheart --help` stays fast")
