"""Config loading: merge order, full-key errors with valid choices, redaction, plugin options."""

from __future__ import annotations

import subprocess
import sys

import pytest

from redheart_core.config import config_hash, iter_keys, load_config, to_plain, to_yaml
from redheart_core.errors import ConfigError
from redheart_core.secrets import redact


def test_defaults_match_the_documented_top_level_keys():
    cfg = load_config(validate=False)
    assert cfg.llm.backend == "none"
    assert list(cfg.analyzers) == ["emotion", "bentham", "ethics", "regret", "surd", "circuit"]
    assert cfg.embedding.project_to == 768
    assert cfg.memory.vram_budget_gb == 8.0
    assert cfg.pipeline.overflow.value == "block"
    assert cfg.seed == 0


def test_files_then_overrides_merge_in_order(tmp_path):
    first = tmp_path / "a.yaml"
    first.write_text("pipeline: {concurrency: 2, batch_size: 4}\nseed: 7\n")
    second = tmp_path / "b.yaml"
    second.write_text("pipeline: {concurrency: 3}\n")
    cfg = load_config([first, second], ["pipeline.batch_size=9"], validate=False)
    assert (cfg.pipeline.concurrency, cfg.pipeline.batch_size, cfg.seed) == (3, 9, 7)


@pytest.mark.parametrize("override, key, fragment", [
    ("pipeline.concurency=2", "pipeline.concurency", "concurrency"),
    ("pipeline.concurrency=many", "pipeline.concurrency", "could not be converted"),
    ("pipeline.overflow=drop", "pipeline.overflow", "block, reject"),
    ("logging.format=xml", "logging.format", "text, json"),
    ("pipeline.concurrency=0", "pipeline.concurrency", "at least 1"),
    ("memory.headroom=1.5", "memory.headroom", "[0, 1)"),
    ("nonsense=1", "nonsense", "analyzer_options"),
])
def test_bad_values_name_the_full_key(override, key, fragment):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[override], validate=False)
    assert info.value.key == key
    assert fragment in str(info.value)


def test_unknown_key_in_a_file_names_the_full_path(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("embedding:\n  cache_sise: 10\n")
    with pytest.raises(ConfigError, match=r"embedding\.cache_sise: unknown key .*cache_size"):
        load_config([path], validate=False)


def test_missing_file_and_bad_yaml_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config([tmp_path / "nope.yaml"], validate=False)
    bad = tmp_path / "bad.yaml"
    bad.write_text("llm: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config([bad], validate=False)


def test_environment_interpolation_resolves(monkeypatch):
    monkeypatch.setenv("REDHEART_TEST_SEED", "11")
    cfg = load_config(overrides=["seed=${oc.env:REDHEART_TEST_SEED}"], validate=False)
    assert cfg.seed == 11


def test_secrets_are_redacted_wherever_the_config_is_shown(monkeypatch):
    monkeypatch.setenv("SOME_API_KEY", "sk-very-secret")
    cfg = load_config(overrides=["llm.options.api_key=${oc.env:SOME_API_KEY}",
                                 "llm.options.auth_token=tok-123", "llm.options.max_tokens=50"],
                      validate=False)
    shown = to_yaml(cfg)
    assert "sk-very-secret" not in shown and "tok-123" not in shown
    assert to_plain(cfg)["llm"]["options"] == {"api_key": "***", "auth_token": "***", "max_tokens": 50}
    assert redact({"nested": [{"client_secret": "x"}]}) == {"nested": [{"client_secret": "***"}]}


def test_config_hash_ignores_secret_values():
    a = load_config(overrides=["llm.options.api_key=one"], validate=False)
    b = load_config(overrides=["llm.options.api_key=two"], validate=False)
    c = load_config(overrides=["seed=3"], validate=False)
    assert config_hash(a) == config_hash(b) != config_hash(c)


def test_iter_keys_lists_every_leaf_key():
    keys = set(iter_keys())
    assert {"llm.backend", "pipeline.stage_timeout_s", "experience.threshold", "seed",
            "plugins.disabled", "server.max_chars"} <= keys


def test_config_show_redacts_and_config_errors_exit_2_without_traceback():
    run = lambda *a: subprocess.run([sys.executable, "-m", "redheart_core", *a],  # noqa: E731
                                    capture_output=True, text=True)
    shown = run("config", "show", "--set", "llm.options.api_key=sk-live-123")
    assert shown.returncode == 0 and "sk-live-123" not in shown.stdout and "***" in shown.stdout
    bad = run("config", "show", "--set", "pipeline.overflow=drop")
    assert bad.returncode == 2
    assert "pipeline.overflow" in bad.stderr and "Traceback" not in bad.stderr


# ------------------------------------------------------------------ every config error: one line, exit 2


@pytest.mark.parametrize("key", ["pipeline.max_queue", "seed", "logging.level", "server.port",
                                 "experience.path", "llm.options.english_only"])
def test_an_unset_environment_variable_in_any_key_names_the_key_and_the_variable(key):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[f"{key}=${{oc.env:REDHEART_TEST_UNSET_VAR}}"])
    assert info.value.key == key
    assert "REDHEART_TEST_UNSET_VAR" in str(info.value) and "\n" not in str(info.value)


def test_a_recursive_interpolation_names_the_key():
    with pytest.raises(ConfigError, match="refers back to itself") as info:
        load_config(overrides=["seed=${seed}"], validate=False)
    assert info.value.key == "seed"


@pytest.mark.parametrize("override, key, fragment", [
    ("analyzers=[emotion", "analyzers", "not valid YAML"),
    ("server.port=99999", "server.port", "0..65535"),
    ("server.shutdown_timeout_s=-1", "server.shutdown_timeout_s", "must not be negative"),
    ("server.header_timeout_s=0", "server.header_timeout_s", "must be positive"),
    ("server.max_batch=0", "server.max_batch", "at least 1"),
    ("experience.max_entries=0", "experience.max_entries", "at least 1"),
    ("server.api_keys.ops=short", "server.api_keys.ops", "at least 16 characters"),
    ("server.api_keys={'bad name': 'k-0123456789abcdef'}", "server.api_keys.bad name", "letters, digits"),
])
def test_bad_server_and_list_values_name_the_key(override, key, fragment):
    with pytest.raises(ConfigError, match=fragment) as info:
        load_config(overrides=[override], validate=False)
    assert info.value.key == key and "\n" not in str(info.value)


def test_two_callers_may_not_share_a_key():
    with pytest.raises(ConfigError, match="same key as server.api_keys.a"):
        load_config(overrides=["server.api_keys={a: k-0123456789abcdef, b: k-0123456789abcdef}"],
                    validate=False)


def test_a_yaml_syntax_error_is_one_line_with_its_position(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipeline:\n  concurrency: [2\nseed: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config([bad], validate=False)
    assert "\n" not in str(info.value) and "line 3, column" in str(info.value)


def test_a_secret_in_the_wrong_key_is_never_echoed(monkeypatch):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=["pipeline.concurrency=sk-ant-api03-abcdefghijklmnopqrstuv"])
    assert "sk-ant" not in str(info.value) and info.value.key == "pipeline.concurrency"
    monkeypatch.setenv("MY_SERVICE_TOKEN", "plain-looking-token-value")
    with pytest.raises(ConfigError) as info:
        load_config(overrides=["seed=${oc.env:MY_SERVICE_TOKEN}"])
    assert "plain-looking-token-value" not in str(info.value)


def test_api_keys_are_redacted_whatever_the_callers_are_called():
    cfg = load_config(overrides=["server.api_keys.ops=k-0123456789abcdef-ops"], validate=False)
    assert to_plain(cfg)["server"]["api_keys"] == {"ops": "***"}
    assert "k-0123456789abcdef-ops" not in to_yaml(cfg)


CLI_CONFIG_ERRORS = [
    (["--set", "pipeline.max_queue=${oc.env:REDHEART_TEST_UNSET_VAR}"], "pipeline.max_queue"),
    (["--set", "seed=${seed}"], "seed"),
    (["--set", "analyzers=[emotion"], "analyzers"),
    (["--set", "server.port=99999"], "server.port"),
    (["--set", "server.shutdown_timeout_s=-1"], "server.shutdown_timeout_s"),
    (["--set", "experience.path=/"], "experience.path"),
    (["--set", "llm.backend=claude", "--set", "llm.options.max_retries=sk-ant-api03-abcdefghijklmnopqr"],
     "llm.options.max_retries"),
]


@pytest.mark.parametrize("args, key", CLI_CONFIG_ERRORS, ids=[k for _, k in CLI_CONFIG_ERRORS])
def test_config_errors_on_the_command_line_exit_2_with_one_line_naming_the_key(args, key):
    proc = subprocess.run([sys.executable, "-m", "redheart_core", "config", "validate", *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: config: ") and key in lines[0], proc.stderr
    assert "sk-ant" not in proc.stderr


def test_a_yaml_syntax_error_on_the_command_line_is_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1\nb: 2\n")
    proc = subprocess.run([sys.executable, "-m", "redheart_core", "config", "validate", "--config", str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.slow
def test_config_validate_catches_a_missing_checkpoint_as_analyze_would():
    proc = subprocess.run([sys.executable, "-m", "redheart_core", "config", "validate", "--set",
                           "analyzer_options.emotion.checkpoint=/nonexistent/emotion.pt"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "analyzer_options.emotion.checkpoint" in proc.stderr and "Traceback" not in proc.stderr
