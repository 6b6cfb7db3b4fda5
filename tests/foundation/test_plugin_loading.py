"""The loading rules of ARCHITECTURE section 3, against real pip-installed distributions."""

from __future__ import annotations

import time

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
    assert "llm.backend" in res.err and "unknown LLM backend 'none'" in res.err


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
