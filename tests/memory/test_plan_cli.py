"""``redheart memory plan`` and ``redheart doctor``: JSON shape, exit codes, what overflows."""

from __future__ import annotations

import json

import pytest

from redheart_core.testing.plugin_suite import modules_imported_by

KIB = 1024


def test_plan_json_has_the_documented_shape_and_exits_0_when_it_fits(plan_cli):
    result = plan_cli("--json", budget_kib=100)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    embedder = plan_cli.embedder_bytes
    assert list(plan) == ["strategy", "device", "budget_bytes", "modules", "phases",
                          "peak_bytes", "fits"]
    assert plan["strategy"] == "phase_swap" and plan["device"] == "cuda"
    assert plan["budget_bytes"] == embedder + 100 * KIB
    modules = dict(plan["modules"])
    assert all(modules.pop(name)["phases"] == ["red_heart"] for name in plan_cli.shared)
    assert modules == {
        "mt_encoder": {"bytes": 64 * KIB, "phases": ["red_heart"], "priority": 5},
        "mt_circuit_head": {"bytes": 32 * KIB, "phases": ["circuit"], "priority": 1},
        "mt_llm": {"bytes": 128 * KIB, "phases": ["llm"], "priority": 0},
    }
    red_heart = ["mt_encoder", *plan_cli.shared]  # by priority: 5, then 2 by name
    assert plan["phases"] == {
        "red_heart": {"resident": red_heart, "bytes": embedder + 64 * KIB},
        "circuit": {"resident": ["mt_encoder", "mt_circuit_head"], "bytes": 96 * KIB},
        "llm": {"resident": ["mt_llm"], "bytes": 128 * KIB},
    }
    assert plan["peak_bytes"] == max(embedder + 64 * KIB, 128 * KIB) and plan["fits"] is True


def test_plan_exits_1_and_names_the_phase_that_overflows(plan_cli):
    result = plan_cli("--json", budget_kib=32 if plan_cli.embedder_bytes else 100)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["fits"] is False
    assert "phase 'red_heart' needs" in result.stderr or "phase 'llm' needs" in result.stderr
    assert "mt_encoder" in result.stderr or "mt_llm" in result.stderr


def test_resident_plan_names_every_module_when_the_total_overflows(plan_cli):
    result = plan_cli(budget_kib=200, strategy="resident")
    assert result.exit_code == 1
    assert "does NOT fit" in result.stdout
    assert "mt_encoder" in result.stdout and "mt_circuit_head, mt_llm" in result.stdout
    assert "memory.strategy=phase_swap" in result.stdout


def test_auto_plans_resident_when_everything_fits_on_the_device(plan_cli):
    result = plan_cli("--json", budget_kib=300, strategy="auto")
    plan = json.loads(result.stdout)
    assert result.exit_code == 0 and plan["strategy"] == "resident"
    assert plan["peak_bytes"] == plan_cli.embedder_bytes + 224 * KIB
    assert all(set(p["resident"]) == set(plan["modules"]) for p in plan["phases"].values())


def test_without_cuda_auto_plans_the_cpu(plan_cli):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = plan_cli("--json", budget_kib=1, strategy="auto", device="auto")
    plan = json.loads(result.stdout)
    assert result.exit_code == 0
    assert (plan["strategy"], plan["device"], plan["fits"]) == ("cpu", "cpu", True)


@pytest.mark.parametrize("setting, key, named", [
    (("memory.strategy", "fastest"), "memory.strategy", "auto, cpu, phase_swap, resident"),
    (("memory.device", "tpu"), "memory.device", "cuda:N"),
    (("memory.options.prefetch", "sometimes"), "memory.options.prefetch", ""),
])
def test_config_errors_exit_2_naming_the_key_and_choices(plan_cli, setting, key, named):
    result = plan_cli("--set", "=".join(setting))
    assert result.exit_code == 2
    assert key in result.stderr and named in result.stderr
    assert "Traceback" not in result.output


def test_doctor_shows_the_device_and_the_plan(plan_cli):
    result = plan_cli(budget_kib=200, command=("doctor",))
    assert result.exit_code == 0, result.output
    assert "torch" in result.stdout and "GPU" in result.stdout
    assert "memory plan:" in result.stdout and "mt_circuit_head" in result.stdout
    assert plan_cli(budget_kib=32, command=("doctor",)).exit_code == 1


def test_cli_and_plugin_modules_do_not_import_torch():
    code = ("import redheart_core.cli.memory, redheart_core.cli.doctor, "
            "redheart_core.memory.plugin, redheart_core.memory")
    assert modules_imported_by(code, ("torch", "numpy", "pynvml")) == []


class _StagedByRegistration:
    """An analyzer whose stage is only in its registration (``register(..., stage=)``)."""

    requires = ()

    def __init__(self):
        import torch

        self.head = torch.nn.Linear(8, 8)

    def modules(self):
        return {"staged_head": self.head}

    def analyze_batch(self, items):
        return [{} for _ in items]


class _MeasuredTranslator:
    """A translator that exposes its model only through ``modules()``."""

    source, target = "ko", "en"

    def __init__(self):
        import torch

        self.model = torch.nn.Linear(8, 8)

    def modules(self):
        return {"staged_translator": self.model}

    def translate_batch(self, texts):
        return list(texts)


class _StagedPlugin:
    from redheart_core import hookimpl

    @hookimpl
    def redheart_register_analyzers(self, register):
        register("staged", lambda options: _StagedByRegistration(), stage="circuit")

    @hookimpl
    def redheart_register_translators(self, register):
        register("staged-translator", lambda options: _MeasuredTranslator())


def test_the_plan_puts_modules_in_the_phase_their_stage_runs_in(redheart_plugin):
    from redheart_core.config import load_config
    from redheart_core.memory_plan import plan_for_config

    redheart_plugin(_StagedPlugin(), "staged-plugin")
    plan = plan_for_config(load_config(overrides=[
        "analyzers=[staged]", "translation.translator=staged-translator", "memory.device=cpu"]))
    assert plan.modules["staged_head"].phases == {"circuit"}  # as registered, as the pipeline runs it
    assert plan.modules["staged_translator"].phases == {"llm"}  # prepare translates in phase llm
