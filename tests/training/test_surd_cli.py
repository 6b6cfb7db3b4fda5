"""`redheart surd` over a results file: dotted paths, table + JSON, PNG chart, clear errors."""

from __future__ import annotations

import itertools
import json

import pytest
from click.testing import CliRunner

from redheart_core.cli import cli

from .conftest import write_jsonl


def result_line(i: int, a: int, b: int, target: float) -> dict:
    return {"id": f"r{i}", "result": {"emotion": {"valence": float(a), "integrated": {"critical_loss": bool(b)}},
                                       "bentham": {"scenarios": [{"final_score": float(b)}]},
                                       "circuit": {"final_ethical_score": target}}}


@pytest.fixture
def xor_results(tmp_path):
    """target = a XOR b over balanced binary sources: one bit, all of it synergistic."""
    lines = [result_line(i, a, b, float(a ^ b))
             for i, (a, b) in enumerate(list(itertools.product((0, 1), (0, 1))) * 25)]
    lines.append({"id": "e1", "error": {"type": "Boom", "message": "x"}})
    lines.append({"id": "m1", "result": {"emotion": {}}})
    return write_jsonl(tmp_path / "out.jsonl", lines)


def run(*args: str):
    return CliRunner().invoke(cli, ["surd", *args])


def test_xor_is_all_synergy_in_json(xor_results):
    result = run("--data", str(xor_results), "--target", "circuit.final_ethical_score",
                 "--sources", "emotion.valence,bentham.scenarios.0.final_score", "--bins", "2", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["samples"] == 100 and data["skipped"] == 2
    assert data["synergistic"]["emotion.valence+bentham.scenarios.0.final_score"] == pytest.approx(1.0, abs=1e-6)
    assert data["unique"]["emotion.valence"] == pytest.approx(0.0, abs=1e-6)
    assert data["mutual_information"] == pytest.approx(1.0, abs=1e-6)


def test_table_plot_and_unique_information(xor_results, tmp_path):
    plot = tmp_path / "surd.png"
    result = run("--data", str(xor_results), "--target", "result.emotion.valence",
                 "--sources", "emotion.valence,emotion.integrated.critical_loss", "--bins", "2",
                 "--plot", str(plot))
    assert result.exit_code == 0, result.output
    assert "SURD of result.emotion.valence" in result.output and "100 results, 2 bins" in result.output
    assert "left out 2 record(s)" in result.output
    data = json.loads(result.output[result.output.index("{"):])
    assert data["unique"]["emotion.valence"] == pytest.approx(1.0, abs=1e-6)
    assert data["unique"]["emotion.integrated.critical_loss"] == pytest.approx(0.0, abs=1e-6)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_path_no_result_holds_is_a_clear_error(xor_results):
    result = run("--data", str(xor_results), "--target", "circuit.nope", "--sources", "emotion.valence")
    assert result.exit_code == 2
    assert "fewer than two results hold circuit.nope" in result.output
    assert "without circuit.nope" in result.output


def test_too_few_results_for_the_bins_warn_in_the_table_and_the_json(tmp_path):
    """The issue's case: 15 results, 8 bins, 3 sources (4096 joint bins) gave 'MI 2.61 bits,
    leak 0.000' with no hint that it is noise."""
    import numpy as np

    rng = np.random.default_rng(3)
    lines = [{"id": f"r{i}", "result": {"circuit": {"final_ethical_score": float(t)},
                                        "emotion": {"valence": float(a)},
                                        "bentham": {"final_score": float(b)},
                                        "regret": {"anticipated": float(c)}}}
             for i, (t, a, b, c) in enumerate(rng.random((15, 4)))]
    data = write_jsonl(tmp_path / "few.jsonl", lines)
    args = ("--data", str(data), "--target", "circuit.final_ethical_score",
            "--sources", "emotion.valence,bentham.final_score,regret.anticipated", "--bins", "8")
    table = run(*args)
    assert table.exit_code == 0, table.output
    assert "warning: too few samples for the bins: 15 samples fill 15 of the 4096 joint bins" in \
        " ".join(table.output.split())
    only_json = CliRunner().invoke(cli, ["surd", *args, "--json"])
    report = json.loads(only_json.stdout)
    assert "1.0 per occupied bin where SURD needs at least 3" in report["warning"]


def test_enough_results_for_the_bins_carry_no_warning(xor_results):
    result = run("--data", str(xor_results), "--target", "circuit.final_ethical_score",
                 "--sources", "emotion.valence,bentham.scenarios.0.final_score", "--bins", "2", "--json")
    assert json.loads(result.output)["warning"] is None
