"""The one structured config, its loading, overrides, plugin-option validation and redaction.

Sources merge in order: built-in defaults, each ``--config FILE``, each ``--set key=value``;
``${oc.env:NAME}`` interpolation reads the environment. Every error names the full key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Sequence

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .errors import ConfigError
from .options import OptionError
from .secrets import environment_secrets, redact, redact_text

if TYPE_CHECKING:
    from .plugins import PluginRegistry, Registration

DEFAULT_ANALYZERS = ["emotion", "bentham", "ethics", "regret", "surd", "circuit"]


class Overflow(StrEnum):
    block = "block"
    reject = "reject"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


class TranslateWhen(StrEnum):
    auto = "auto"
    always = "always"
    never = "never"


@dataclass
class LLMConfig:
    backend: str = "none"
    options: Dict[str, Any] = field(default_factory=dict)


@dataclass
class EmbeddingConfig:
    model: str = "redheart"
    project_to: Optional[int] = 768
    device: str = "auto"
    cache_size: int = 256


@dataclass
class TranslationConfig:
    translator: str = "none"
    when: TranslateWhen = TranslateWhen.auto
    options: Dict[str, Any] = field(default_factory=dict)


@dataclass
class MemoryConfig:
    strategy: str = "auto"
    device: str = "auto"
    vram_budget_gb: float = 8.0
    headroom: float = 0.1
    options: Dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineConfig:
    max_queue: int = 256
    overflow: Overflow = Overflow.block
    concurrency: int = 8
    batch_size: int = 16
    batch_wait_ms: float = 5.0
    retries: int = 2
    stage_timeout_s: float = 120.0


@dataclass
class ExperienceConfig:
    path: Optional[str] = None
    top_k: int = 5
    threshold: float = 0.75
    #: most decisions kept; beyond it the oldest are evicted first
    max_entries: int = 10_000
    #: matches carry a snippet of the matched situation (kept only then), from the caller's
    #: own namespace; off: the store keeps no text and a match exposes none
    match_text: bool = False


@dataclass
class PluginsConfig:
    disabled: List[str] = field(default_factory=list)


@dataclass
class LoggingConfig:
    level: str = "INFO"
    format: LogFormat = LogFormat.text


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    max_chars: int = 100_000
    shutdown_timeout_s: float = 30.0
    #: caller name -> bearer key; empty: no authentication (loopback use)
    api_keys: Dict[str, str] = field(default_factory=dict)
    #: Host header names accepted; empty: the loopback names and server.host; ["*"]: any
    allowed_hosts: List[str] = field(default_factory=list)
    max_body_bytes: int = 8_000_000
    max_batch: int = 64
    #: open connections at once (also kept below the process's file-descriptor limit)
    max_connections: int = 1000
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keep_alive_s: float = 5.0


@dataclass
class RedheartConfig:
    llm: LLMConfig = field(default_factory=LLMConfig)
    analyzers: List[str] = field(default_factory=lambda: list(DEFAULT_ANALYZERS))
    analyzer_options: Dict[str, Any] = field(default_factory=dict)
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    translation: TranslationConfig = field(default_factory=TranslationConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    experience: ExperienceConfig = field(default_factory=ExperienceConfig)
    plugins: PluginsConfig = field(default_factory=PluginsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    seed: int = 0


# --------------------------------------------------------------------------- errors


def _valid_keys_at(key: str) -> list[str] | None:
    """The field names of the structured node that holds ``key``, for unknown-key errors."""
    node: Any = RedheartConfig
    for part in key.split(".")[:-1]:
        fields = {f.name: f for f in dataclasses.fields(node)} if dataclasses.is_dataclass(node) else {}
        if part not in fields:
            return None
        node = fields[part].type
        node = globals().get(node, node) if isinstance(node, str) else node
    if dataclasses.is_dataclass(node):
        return [f.name for f in dataclasses.fields(node)]
    return None


def _config_error(exc: OmegaConfBaseException, prefix: str = "") -> ConfigError:
    """One line naming the full key; a value that looks like a secret is never echoed."""
    key = getattr(exc, "full_key", None) or ""
    key = f"{prefix}.{key}" if prefix and key else (prefix or key)
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if type(exc).__name__ == "ConfigKeyError" and not prefix:
        return ConfigError(key, "unknown key", choices=_valid_keys_at(key))
    unset = _UNSET_ENV.search(str(exc))
    if unset:
        return ConfigError(key, f"environment variable {unset.group(1)!r} is not set; set it, or give "
                           f"a default: ${{oc.env:{unset.group(1)},<default>}}")
    if "Recursive interpolation" in first:
        return ConfigError(key, "the interpolation refers back to itself (recursive interpolation)")
    if type(exc).__name__ == "InterpolationResolutionError" or "oc.env" in first:
        return ConfigError(key, f"{_scrub(first)}; set the environment variable or the key")
    return ConfigError(key, _scrub(first))


_UNSET_ENV = re.compile(r"Environment variable '([^']+)' not found")


def _scrub(message: str) -> str:
    """``message`` without secret-looking values (a key pasted into the wrong option)."""
    return redact_text(message, environment_secrets())


def _yaml_error(exc: Exception) -> str:
    """A YAML syntax error on one line: where, then what."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"


# --------------------------------------------------------------------------- loading


def load_config(files: Sequence[str | Path] = (), overrides: Sequence[str] = (),
                *, validate: bool = True) -> DictConfig:
    """Merge defaults, files and ``key=value`` overrides into a typed, validated config.

    With ``validate`` (the default) plugin names and plugin options are checked against what
    the installed plugins register; see :func:`validate_config`.
    """
    cfg = OmegaConf.structured(RedheartConfig)
    for path in files:
        path = Path(path)
        try:
            loaded = OmegaConf.load(path)
        except FileNotFoundError:
            raise ConfigError("", f"config file {str(path)!r} not found") from None
        except IsADirectoryError:
            raise ConfigError("", f"config file {str(path)!r} is a directory") from None
        except yaml.YAMLError as exc:
            raise ConfigError("", f"config file {str(path)!r} is not valid YAML: {_yaml_error(exc)}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError("", f"config file {str(path)!r} cannot be read: {exc}") from None
        if not isinstance(loaded, DictConfig):
            raise ConfigError("", f"config file {str(path)!r} must hold a mapping at the top level")
        try:
            cfg = OmegaConf.merge(cfg, loaded)
        except OmegaConfBaseException as exc:
            raise _config_error(exc) from None
    for item in overrides:
        if "=" not in item:
            raise ConfigError(_scrub(item), "an override must look like key=value (e.g. llm.backend=claude)")
        try:
            cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist([item]))
        except OmegaConfBaseException as exc:
            raise _config_error(exc) from None
        except yaml.YAMLError as exc:
            raise ConfigError(item.split("=", 1)[0], f"the value is not valid YAML ({_yaml_error(exc)}); "
                              "close the list or mapping, or quote the value") from None
    _check_resolves(cfg)
    _check_ranges(cfg)
    if validate:
        from .plugins import get_registry

        registry = get_registry(cfg.plugins.disabled)
        if not sets_key(files, overrides, "analyzers"):  # the default list loses what is disabled
            cfg.analyzers = [a for a in cfg.analyzers if not registry.is_disabled("analyzers", a)]
        validate_config(cfg, registry)
    return cfg


def _check_resolves(cfg: DictConfig) -> None:
    """Resolve every interpolation once, so an unset variable or a loop is a config error
    naming its key now, not a traceback where the value is first read."""
    try:
        OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        raise _config_error(exc) from None


def sets_key(files: Sequence[str | Path], overrides: Sequence[str], key: str) -> bool:
    """Whether a config file or an override sets ``key`` (a dotted path) or a section above it."""
    parents = {".".join(key.split(".")[:i]) for i in range(1, key.count(".") + 2)}
    if any(item.split("=", 1)[0].strip().lstrip("+~") in parents for item in overrides):
        return True
    for path in files:
        loaded = OmegaConf.load(Path(path))
        if OmegaConf.select(loaded, key, default=None, throw_on_resolution_failure=False) is not None:
            return True
    return False


_POSITIVE = ("pipeline.max_queue", "pipeline.concurrency", "pipeline.batch_size",
             "embedding.cache_size", "experience.top_k", "experience.max_entries", "server.max_chars",
             "server.max_body_bytes", "server.max_batch", "server.max_connections")
_NOT_NEGATIVE = ("pipeline.retries", "pipeline.batch_wait_ms", "seed", "server.shutdown_timeout_s")
_POSITIVE_SECONDS = ("pipeline.stage_timeout_s", "server.header_timeout_s", "server.body_timeout_s",
                     "server.keep_alive_s")
#: what a caller's name may look like (it names the caller's experience namespace and log lines)
CALLER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: shortest bearer key accepted: a guessable key is no authentication
MIN_API_KEY_CHARS = 16


def _check_ranges(cfg: DictConfig) -> None:
    for key in _POSITIVE:
        if OmegaConf.select(cfg, key) < 1:
            raise ConfigError(key, f"must be at least 1, got {OmegaConf.select(cfg, key)}")
    for key in _NOT_NEGATIVE:
        if OmegaConf.select(cfg, key) < 0:
            raise ConfigError(key, f"must not be negative, got {OmegaConf.select(cfg, key)}")
    for key in _POSITIVE_SECONDS:
        if OmegaConf.select(cfg, key) <= 0:
            raise ConfigError(key, f"must be positive, got {OmegaConf.select(cfg, key)}")
    if not 0 <= cfg.server.port <= 65535:
        raise ConfigError("server.port", f"must be a TCP port in 0..65535, got {cfg.server.port}")
    _check_api_keys(cfg.server.api_keys)
    if not 0 <= cfg.memory.headroom < 1:
        raise ConfigError("memory.headroom", f"must be in [0, 1), got {cfg.memory.headroom}")
    if cfg.memory.vram_budget_gb <= 0:
        raise ConfigError("memory.vram_budget_gb", "must be positive")
    check_device(cfg.memory.device)
    if not 0 <= cfg.experience.threshold <= 1:
        raise ConfigError("experience.threshold", "must be in [0, 1]")
    if cfg.embedding.project_to is not None and cfg.embedding.project_to < 1:
        raise ConfigError("embedding.project_to", "must be a positive dimension or null")
    if str(cfg.logging.level).upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError("logging.level", f"unknown level {cfg.logging.level!r}",
                          choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
    if cfg.experience.path is not None:
        from .analyzers.experience_file import check_store_path

        check_store_path(cfg.experience.path)


_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
DEVICE_CHOICES = ["auto", "cpu", "cuda", "cuda:N", "mps"]


def check_device(configured: str) -> None:
    """Fail on a ``memory.device`` torch would not understand (before anything is built)."""
    if not _DEVICE.match(str(configured)):
        raise ConfigError("memory.device", f"unknown device {configured!r}", choices=DEVICE_CHOICES)


def _check_api_keys(keys: Any) -> None:
    seen: dict[str, str] = {}
    for name, key in keys.items():
        where = f"server.api_keys.{name}"
        if not CALLER_NAME.fullmatch(str(name)):
            raise ConfigError(where, "a caller's name may hold letters, digits, '.', '_' and '-' "
                              "(at most 64, starting with a letter or digit)")
        if not isinstance(key, str) or len(key.strip()) < MIN_API_KEY_CHARS:
            raise ConfigError(where, f"a key must be at least {MIN_API_KEY_CHARS} characters "
                              "(e.g. from: python -c 'import secrets; print(secrets.token_urlsafe(32))')")
        if key in seen:
            raise ConfigError(where, f"the same key as server.api_keys.{seen[key]}; give each caller its own")
        seen[key] = str(name)


def validate_options(options_cls: type | None, values: Any, key: str, owner: str) -> Any:
    """Check ``values`` against a plugin's options dataclass; return the typed node.

    ``owner`` names the plugin for messages ("LLM backend 'claude' (redheart-plugins-claude)").
    """
    values = values if values is not None else {}
    if options_cls is None:
        if len(values):
            raise ConfigError(f"{key}.{next(iter(values))}", f"{owner} takes no options", choices=[])
        return OmegaConf.create({})
    allowed = [f.name for f in dataclasses.fields(options_cls)]
    for name in values:
        if name not in allowed:
            raise ConfigError(f"{key}.{name}", f"unknown option for {owner}", choices=allowed)
    try:
        node = OmegaConf.merge(OmegaConf.structured(options_cls), values)
        OmegaConf.to_container(node, resolve=True, throw_on_missing=True)
        OmegaConf.to_object(node)  # the dataclass's own checks (__post_init__)
    except OmegaConfBaseException as exc:
        raise _config_error(exc, prefix=key) from None
    except OptionError as exc:
        raise ConfigError(f"{key}.{exc.field}", f"{exc} ({owner})") from None
    return node


def validate_config(cfg: DictConfig, registry: "PluginRegistry | None" = None) -> dict[tuple[str, str], DictConfig]:
    """Check every registered name and every plugin option the config uses; return the
    validated options of each part, by (options key, registered name), for the runtime to
    build with (so nothing is validated twice by one runtime).

    Fails with a :class:`ConfigError` naming the full key and the valid choices.
    """
    from .plugins import get_registry

    registry = registry or get_registry(cfg.plugins.disabled)
    validated: dict[tuple[str, str], DictConfig] = {}

    def check(reg: "Registration", key: str) -> None:
        validated[key, reg.name] = plugin_options(cfg, reg, key)

    check(registry.get("llm_backends", cfg.llm.backend, "llm.backend"), "llm.options")
    check(registry.get("memory_strategies", cfg.memory.strategy, "memory.strategy"), "memory.options")
    if cfg.translation.translator != "none":
        check(registry.get("translators", cfg.translation.translator, "translation.translator"),
              "translation.options")
    names = list(cfg.analyzers)
    for i, name in enumerate(names):
        registry.get("analyzers", name, f"analyzers[{i}]")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ConfigError("analyzers", f"analyzer {dup!r} is listed twice")
    analyzer_order(names, registry)
    for name in cfg.analyzer_options:
        if name not in names:
            raise ConfigError(f"analyzer_options.{name}", "options for an analyzer that is not in "
                              "'analyzers'", choices=names)
    for name in names:
        check(registry.get("analyzers", name), f"analyzer_options.{name}")
    return validated


def analyzer_order(names: Sequence[str], registry: "PluginRegistry") -> list[str]:
    """The configured analyzers in dependency order; a missing requirement is a config error."""
    regs = {n: registry.get("analyzers", n) for n in names}
    for name, reg in regs.items():
        for req in reg.requires:
            if req not in regs:
                why = (" (it is disabled by plugins.disabled)"
                       if registry.is_disabled("analyzers", req) else "")
                raise ConfigError("analyzers", f"analyzer {name!r} requires {req!r}, which is not "
                                  f"configured{why}; add {req!r} to analyzers or remove {name!r}")
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise ConfigError("analyzers", f"analyzers {name!r} and its requirements form a cycle")
        visiting.add(name)
        for req in regs[name].requires:
            visit(req)
        visiting.discard(name)
        ordered.append(name)

    for name in names:
        visit(name)
    return ordered


def plugin_options(cfg: DictConfig, registration: "Registration", key: str) -> Any:
    """The validated options node for ``registration`` from the config subtree at ``key``."""
    values = OmegaConf.select(cfg, key, default=None)
    return validate_options(registration.options, values, key,
                            f"{registration.label} ({registration.distribution})")


# --------------------------------------------------------------------------- showing

def to_plain(cfg: DictConfig, *, resolve: bool = True) -> dict[str, Any]:
    """The config as plain data with secrets redacted; unresolvable interpolations stay as text."""
    try:
        data = OmegaConf.to_container(cfg, resolve=resolve, enum_to_str=True)
    except OmegaConfBaseException:
        data = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
    return redact(data)


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(OmegaConf.create(to_plain(cfg)))


def config_hash(cfg: DictConfig) -> str:
    """A short stable hash of the (redacted) config, for a result's provenance."""
    text = json.dumps(to_plain(cfg), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def iter_keys(node: Any = RedheartConfig, prefix: str = "") -> Iterable[str]:
    """Every dotted key of the structured config (the docs test checks each is documented)."""
    for f in dataclasses.fields(node):
        key = f"{prefix}{f.name}"
        typ = f.type if not isinstance(f.type, str) else globals().get(f.type, f.type)
        if dataclasses.is_dataclass(typ):
            yield from iter_keys(typ, key + ".")
        else:
            yield key
