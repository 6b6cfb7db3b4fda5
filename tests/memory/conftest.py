"""Synthetic modules for the memory tests: sizes in whole KiB, real tensors, real copies.

Without CUDA the manager runs on the ``cpu`` "device": loading and evicting still copy between
distinct host and device storages, so residency is observable, not just bookkept.
"""

from __future__ import annotations

from typing import Callable

import pytest
import torch

KIB = 1024


@pytest.fixture
def linear() -> Callable[..., torch.nn.Linear]:
    """``linear(kib, seed=0)``: a bias-free float32 Linear of exactly ``kib`` KiB of weights."""

    def make(kib: int, seed: int = 0, features: int = 64) -> torch.nn.Linear:
        gen = torch.Generator().manual_seed(seed)
        module = torch.nn.Linear(features, kib * KIB // 4 // features, bias=False)
        with torch.no_grad():
            module.weight.copy_(torch.randn(module.weight.shape, generator=gen))
        return module

    return make


@pytest.fixture(scope="session")
def emotion_head(tmp_path_factory) -> str:
    """A trained-head checkpoint (random weights) for the bundled embedder."""
    from redheart_core import load_config
    from redheart_core.analyzers.embedder import embedder_from_config
    from redheart_core.training.checkpoints import save_head
    from redheart_core.training.heads import HeadModule

    embedder = embedder_from_config(load_config().embedding)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("heads") / "emotion.pt"
    return str(save_head(path, HeadModule("emotion", embedder.dim, embedder.model_id, hidden=8)))


# ------------------------------------------------------------ a plugin with modules to plan

from redheart_core import hookimpl  # noqa: E402
from redheart_core.llm.backend import LLMBackend, LLMResponse  # noqa: E402
from redheart_core.memory import ModuleFootprint  # noqa: E402

PLUGIN_NAME = "memory-test-modules"


class EncoderAnalyzer:
    """Registers its module with the runtime's manager when built, as the built-ins do."""

    requires = ()

    def __init__(self, runtime):
        self.encoder = torch.nn.Linear(64, 64 * KIB // 4 // 64, bias=False)  # 64 KiB
        runtime.memory.register("mt_encoder", self.encoder, phases={"red_heart"}, priority=5)

    def analyze_batch(self, items):
        return [{} for _ in items]


class CircuitAnalyzer:
    """Declares its footprint without loading anything (``memory_footprint``)."""

    requires = ()
    stage = "circuit"

    def memory_footprint(self):
        yield ModuleFootprint("mt_circuit_head", 32 * KIB, frozenset({"circuit"}), priority=1,
                              depends_on=("mt_encoder",))

    def analyze_batch(self, items):
        return [{} for _ in items]


class ModuleBackend(LLMBackend):
    """Exposes its model through ``modules()`` only: the plan measures it."""

    def __init__(self):
        self.model_module = torch.nn.Linear(64, 128 * KIB // 4 // 64, bias=False)  # 128 KiB

    def modules(self):
        return {"mt_llm": self.model_module}

    async def complete(self, request):
        return LLMResponse(text="{}")


class MemoryTestPlugin:
    @hookimpl
    def redheart_register_analyzers(self, register):
        register("mt_encoder", lambda options, runtime: EncoderAnalyzer(runtime))
        register("mt_circuit", lambda options: CircuitAnalyzer(), stage="circuit")

    @hookimpl
    def redheart_register_llm_backends(self, register):
        register("mt_llm", lambda options: ModuleBackend())


@pytest.fixture
def module_plugin(redheart_plugin):
    redheart_plugin(MemoryTestPlugin(), PLUGIN_NAME)


@pytest.fixture
def plan_cli(module_plugin):
    """``plan_cli("--json", budget_kib=200, strategy="phase_swap")`` -> click Result.

    The pipeline's shared embedder (red_heart phase) is part of every plan with analyzers, so
    ``budget_kib`` is the room *beyond* the shared modules' size (``plan_cli.embedder_bytes``:
    the embedder and the model heads it carries, named in ``plan_cli.shared``).
    """
    from click.testing import CliRunner

    from redheart_core.cli import cli

    def run(*args: str, budget_kib: float = 1024, strategy: str = "phase_swap",
            device: str = "cuda", command: tuple[str, ...] = ("memory", "plan")):
        budget = run.embedder_bytes + int(budget_kib * KIB)
        settings = ["llm.backend=mt_llm", "analyzers=[mt_encoder,mt_circuit]",
                    f"memory.strategy={strategy}", f"memory.device={device}",
                    f"memory.vram_budget_gb={budget / 1024 ** 3!r}", "memory.headroom=0"]
        argv = list(command)
        for item in settings:
            argv += ["--set", item]
        return CliRunner().invoke(cli, [*argv, *args], catch_exceptions=False)

    import json

    run.embedder_bytes = 0
    probe = json.loads(run("--json", budget_kib=1024 ** 2).stdout)
    run.shared = sorted(n for n in probe["modules"] if not n.startswith("mt_"))
    run.embedder_bytes = sum(probe["modules"][n]["bytes"] for n in run.shared)
    return run
