"""The loading rules of ARCHITECTURE section 3, against real pip-installed distributions."""

from __future__ import annotations

import time
from pathlib import Path

ALL_TEST_DISTS = "redheart-wordcount,redheart-broken,redheart-misspelled"


def by_name(infos):
    return {i["name"]: i for i in infos}


def test_installed_plugin_is_listed_with_its_distribution_and_version(run_cli):
    res = run_cli("plugins", "--json", load="redheart-wordcount")
    assert res.code == 0, res.err
    info = by_name(res.json())["redheart_wordcount"]
    assert info["distribution"] == "redheart-wordcount"
    assert info["version"] == "1.2.3"
    assert info["status"] == "ok"
    assert info["registers"] == {"analyzers": ["wordcount"]}
    assert info["hooks"] == ["redheart_register_analyzers"]


def test_builtins_are_listed_like_any_other_plugin(run_cli):
    infos = by_name(run_cli("plugins", "--json", load="").json())
    assert {"builtin-llm", "builtin-analyzers", "builtin-memory"} <= set(infos)
    assert all(i["distribution"] == "redheart-core" for i in infos.values())


def test_import_error_and_misspelled_hook_are_recorded_not_raised(run_cli):
    res = run_cli("plugins", "--json", load=ALL_TEST_DISTS)
    assert res.code == 0, res.err
    infos = by_name(res.json())
    assert infos["redheart_broken"]["status"] == "error"
    assert "this plugin is broken on purpose" in infos["redheart_broken"]["error"]
    misspelled = infos["redheart_misspelled"]
    assert misspelled["status"] == "error"
    assert "redheart_register_analyzer" in misspelled["error"]
    assert "did you mean 'redheart_register_analyzers'" in misspelled["error"]
    assert infos["redheart_wordcount"]["status"] == "ok"


def test_other_commands_still_work_next_to_broken_plugins(run_cli):
    assert run_cli("config", "show", load=ALL_TEST_DISTS).code == 0
    res = run_cli("config", "validate", "--set", "analyzers=[wordcount]", load=ALL_TEST_DISTS)
    assert res.code == 0, res.err
    assert run_cli("plugins", load=ALL_TEST_DISTS).code == 0
    assert run_cli("--help", load=ALL_TEST_DISTS).code == 0


def test_strict_mode_turns_a_load_failure_into_an_error(run_cli):
    res = run_cli("plugins", load="redheart-broken", env={"REDHEART_STRICT_PLUGINS": "1"})
    assert res.code == 2
    assert "broken on purpose" in res.err
    assert "Traceback" not in res.err


def test_load_plugins_selects_distributions_and_empty_loads_none(run_cli):
    only = by_name(run_cli("plugins", "--json", load="redheart-wordcount").json())
    assert "redheart_broken" not in only and "redheart_wordcount" in only
    none = by_name(run_cli("plugins", "--json", load="").json())
    assert not [i for i in none.values() if not i["builtin"]]


def test_two_plugins_registering_one_name_is_an_error_naming_both(run_cli):
    res = run_cli("plugins", "--json", load="redheart-wordcount,redheart-clash")
    clash = by_name(res.json())["redheart_clash"]
    assert clash["status"] == "error"
    assert "redheart-wordcount" in clash["error"] and "redheart-clash" in clash["error"]
    res = run_cli("config", "validate", "--set", "analyzers=[wordcount]",
                  load="redheart-wordcount,redheart-clash")
    assert res.code == 2
    assert "redheart-wordcount" in res.err and "redheart-clash" in res.err


def test_disabled_blocks_a_plugin_by_name_builtins_included(run_cli):
    res = run_cli("plugins", "--json", "--set", "plugins.disabled=[redheart_wordcount,builtin-llm]",
                  load="redheart-wordcount")
    infos = by_name(res.json())
    assert infos["redheart_wordcount"]["status"] == "disabled"
    assert infos["builtin-llm"]["status"] == "disabled"
    res = run_cli("config", "validate", "--set", "plugins.disabled=[builtin-llm]", load="")
    assert res.code == 2
    assert "llm.backend" in res.err
    assert "LLM backend 'none' is disabled: its plugin 'builtin-llm' is in plugins.disabled" in res.err


def test_a_name_from_a_plugin_that_failed_to_load_says_so_with_its_error(run_cli):
    res = run_cli("config", "validate", "--set", "analyzers=[broken]", load=ALL_TEST_DISTS)
    assert res.code == 2
    assert ("analyzer 'broken' belongs to plugin 'redheart_broken' (redheart-broken), which "
            "failed to load: import failed: RuntimeError: this plugin is broken on purpose") in res.err
    other = run_cli("config", "validate", "--set", "analyzers=[sentiment]", load=ALL_TEST_DISTS)
    assert other.code == 2
    assert "unknown analyzer 'sentiment'" in other.err
    assert "plugins that failed to load (one may provide it)" in other.err
    assert "redheart_broken (redheart-broken): import failed" in other.err


def test_a_name_from_a_disabled_plugin_is_named_as_disabled(run_cli):
    res = run_cli("config", "validate", "--set", "analyzers=[wordcount]",
                  "--set", "plugins.disabled=[redheart-wordcount]", load="redheart-wordcount")
    assert res.code == 2
    assert "plugins.disabled leaves out redheart_wordcount (redheart-wordcount)" in res.err
    single = run_cli("config", "validate", "--set", "analyzers=[emotion,surd]",
                     "--set", "plugins.disabled=[surd]", load="")
    assert single.code == 2
    assert "analyzer 'surd' is disabled: plugins.disabled names 'surd'" in single.err


def test_disabling_a_default_analyzer_takes_it_out_of_the_default_list(run_cli):
    res = run_cli("config", "validate", "--set", "plugins.disabled=[surd]", load="")
    assert res.code == 0, res.err
    from redheart_core.config import load_config

    cfg = load_config(overrides=["plugins.disabled=[surd]"])
    assert list(cfg.analyzers) == ["emotion", "bentham", "ethics", "regret", "circuit"]
    needed = run_cli("config", "validate", "--set", "plugins.disabled=[emotion]", load="")
    assert needed.code == 2
    assert "requires 'emotion', which is not configured (it is disabled by plugins.disabled)" in needed.err


def test_unknown_hook_exits_2_listing_the_hooks(run_cli):
    res = run_cli("plugins", "--hook", "nope", load="")
    assert res.code == 2
    assert "unknown hook 'nope'" in res.err and "redheart_register_analyzers" in res.err
    short = run_cli("plugins", "--json", "--hook", "register_analyzers", load="")
    assert short.code == 0
    assert {i["name"] for i in short.json()} == {"builtin-analyzers"}


def test_descriptions_are_listed_and_the_table_fits_80_columns(run_cli):
    infos = by_name(run_cli("plugins", "--json", load="redheart-wordcount").json())
    assert infos["redheart_wordcount"]["descriptions"] == {"analyzers": {"wordcount": "counts long words"}}
    table = run_cli("plugins", load="redheart-wordcount", env={"COLUMNS": "80"})
    assert table.code == 0, table.err
    lines = table.out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in table.out, "nothing is cut off"
    flat = " ".join(" ".join(lines).split())
    for info in infos.values():
        for kind in info["descriptions"].values():
            for description in kind.values():
                assert " ".join(description.split()) in flat, description


def test_unknown_plugin_option_exits_2_naming_key_and_allowed_options(run_cli):
    res = run_cli("config", "validate", "--set", "analyzers=[wordcount]",
                  "--set", "analyzer_options.wordcount.bogus=1", load="redheart-wordcount")
    assert res.code == 2
    assert "analyzer_options.wordcount.bogus" in res.err
    assert "min_length" in res.err
    assert "Traceback" not in res.err


def test_wrong_option_type_names_the_full_key(run_cli):
    res = run_cli("config", "validate", "--set", "analyzers=[wordcount]",
                  "--set", "analyzer_options.wordcount.min_length=lots", load="redheart-wordcount")
    assert res.code == 2
    assert "analyzer_options.wordcount.min_length" in res.err


def test_installed_analyzer_runs_and_lands_in_extras(run_cli):
    res = run_cli("analyze", "--json", "--set", "analyzers=[wordcount]",
                  "--set", "analyzer_options.wordcount.min_length=5",
                  "Should I report my colleague's mistake to management?", load="redheart-wordcount")
    assert res.code == 0, res.err
    result = res.json()
    assert result["extras"]["wordcount"] == {"words": 5}
    assert result["provenance"]["plugins"]["redheart_wordcount"] == "1.2.3"


def test_plugin_listing_does_not_import_heavy_modules(run_cli):
    import os

    from redheart_core.testing.plugin_suite import modules_imported_by

    heavy = modules_imported_by(
        "from redheart_core.plugins import get_registry; get_registry()",
        ("torch", "transformers", "anthropic", "openai", "numpy", "sentence_transformers", "lightning"),
        env={**os.environ, "REDHEART_LOAD_PLUGINS": "redheart-plugins-claude,"
             "redheart-plugins-openai,redheart-plugins-local"})
    assert heavy == []


def test_help_is_fast(run_cli):
    start = time.perf_counter()
    assert run_cli("--help").code == 0
    assert time.perf_counter() - start < 5  # a smoke bound; the 0.5 s target is in `make bench`


EXTRA_STRATEGY = '''
from redheart_core import hookimpl
from redheart_core.memory.strategies import MemoryStrategy, by_priority, working_set

class Lean(MemoryStrategy):
    name = "lean"
    description = "a user's own strategy"

    def targets(self, phase, footprints):
        return by_priority(working_set(phase, footprints), footprints)

@hookimpl
def redheart_register_memory_strategies(register):
    register("lean", Lean, description=Lean.description)
'''


def test_the_suite_ignores_plugins_the_user_installed(tmp_path):
    """A user's plugin registering an extra memory strategy used to fail `make test` (the list
    of valid strategies in an error message grew). The suite loads only the project's plugins."""
    import os
    import subprocess
    import sys

    from .conftest import pip_install_target, write_dist

    site = tmp_path / "site"
    pip_install_target([write_dist(tmp_path / "src", "redheart-lean", "redheart_lean",
                                   EXTRA_STRATEGY)], site)
    user_env = {k: v for k, v in os.environ.items() if k != "REDHEART_LOAD_PLUGINS"}
    user_env["PYTHONPATH"] = str(site)
    listed = subprocess.run([sys.executable, "-m", "redheart_core", "plugins", "--json"],
                            capture_output=True, text=True, env=user_env, timeout=300)
    assert '"lean"' in listed.stdout, "the user's plugin is installed and loads outside the suite"
    repo = Path(__file__).resolve().parents[2]
    suite = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "tests/memory/test_plan_cli.py::test_config_errors_exit_2_naming_the_key_and_choices"],
                           capture_output=True, text=True, env=user_env, cwd=repo, timeout=600)
    assert suite.returncode == 0, suite.stdout[-3000:]
