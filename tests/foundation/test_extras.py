"""The heavy parts are extras: a command whose extra is missing says which, in one line."""

from __future__ import annotations

import importlib.util

import pytest
from click.testing import CliRunner

from redheart_core.cli import cli
from redheart_core.testing.plugin_suite import modules_imported_by


@pytest.mark.parametrize("argv, extra, module", [
    (["serve"], "serve", "fastapi"),
    (["batch", "in.jsonl", "--out", "out.jsonl"], "train", "lightning"),
    (["train", "emotion", "--data", "x.jsonl"], "train", "lightning"),
])
def test_a_command_without_its_extra_exits_2_naming_the_pip_command(monkeypatch, argv, extra, module):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == module else find_spec(name, *a))
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and f"pip install 'redheart-core[{extra}]'" in lines[0], result.output


def test_analyze_imports_none_of_the_extras():
    code = ("from redheart_core import analyze, load_config; "
            "analyze('I found a wallet on the bus.', config=load_config("
            "overrides=['analyzers=[emotion,bentham,ethics,regret,surd,circuit]']))")
    assert modules_imported_by(code, ("lightning", "fastapi", "uvicorn", "matplotlib",
                                      "prometheus_client")) == []
