"""The encoder's forward pass as TorchScript, so the analyzers' Python runs beside it on the CPU.

An eager forward returns to the interpreter between its ops, and each return waits for the
interpreter lock: while the analyzers' Python holds that lock, the encoder's threads stall. A
traced forward runs its whole graph in C++ with the lock released, so a batch call's encoder
and analyzers share the two cores instead of taking turns.

A :class:`TracedForward` shares the model's weights (no copy) and must give the eager forward's
bits: it is traced on a padded example, so the attention mask's path is the one recorded, and
checked against the eager forward on that example and on the first batch it would serve. A
model that cannot be traced, or a trace that disagrees, leaves the reader eager. It serves only
while the model's tensors are the ones traced and no forward hook watches the model
(:meth:`TracedForward.serves`).

``torch.jit.trace`` is deprecated in favour of ``torch.export`` and ``torch.compile``: an
exported program runs as Python again, and compiling needs a toolchain at run time and fuses
ops (other bits). Its warnings, and the tracer's notes on the branches it records, are silenced
here; a torch without it keeps the eager forward.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

log = logging.getLogger("redheart.model")

Inputs = dict[str, "torch.Tensor"]


def weights_key(model: "torch.nn.Module") -> tuple[int, ...]:
    """Where each of the model's tensors lives: a trace reads the tensors it was made with."""
    return tuple(t.data_ptr() for t in (*model.parameters(), *model.buffers()))


def hooked(model: "torch.nn.Module") -> bool:
    """Whether a forward hook watches the model or one of its parts (a profiler, a test's
    injected fault): it must see every pass, and a traced pass calls no hook."""
    from torch.nn.modules import module as torch_module

    return bool(torch_module._global_forward_hooks or torch_module._global_forward_pre_hooks) \
        or any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def padded_example(cls: int, sep: int, pad: int, token_types: bool, width: int = 4) -> Inputs:
    """Two windows of four and two tokens, padded to ``width``: tracing records the masked
    attention path."""
    import torch

    ids = torch.full((2, width), pad)
    ids[0, :4], ids[1, :2] = torch.tensor([cls, cls, sep, sep]), torch.tensor([cls, sep])
    mask = torch.zeros_like(ids)
    mask[0, :4], mask[1, :2] = 1, 1
    inputs = {"input_ids": ids, "attention_mask": mask}
    if token_types:
        inputs["token_type_ids"] = torch.zeros_like(ids)
    return inputs


def eager_states(model: "torch.nn.Module", inputs: Inputs) -> "torch.Tensor":
    import torch

    with torch.inference_mode():
        return model(**inputs).last_hidden_state


def quiet_trace(module: "torch.nn.Module", example: tuple["torch.Tensor", ...]) -> "torch.jit.ScriptModule | None":
    """``torch.jit.trace(module, example)`` with its deprecation warnings, the tracer's notes and
    transformers' attribute notes silenced; None (logged) when the module cannot be traced."""
    import torch

    transformers_log = logging.getLogger("transformers")
    level = transformers_log.level
    try:
        # the tracer reads every attribute of the model, properties that log notes included
        transformers_log.setLevel(logging.ERROR)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            return torch.jit.trace(module, example, check_trace=False)
    except Exception as exc:  # an architecture the tracer cannot follow: stay eager
        log.debug("the encoder cannot be traced (%s: %s)", type(exc).__name__, exc,
                  extra={"event": "trace_failed"})
        return None
    finally:
        transformers_log.setLevel(level)


class ModelTrace:
    """A traced pass of a model: it reads the tensors it was traced with, and calls no hook."""

    def __init__(self, key: tuple[int, ...]):
        self._key = key

    def serves(self, model: "torch.nn.Module") -> bool:
        """Whether the model still holds the tensors this trace reads, and no hook watches it."""
        return weights_key(model) == self._key and not hooked(model)


class TracedForward(ModelTrace):
    """``model(**inputs).last_hidden_state``, traced; build it with :meth:`trace`."""

    def __init__(self, script: "torch.jit.ScriptModule", names: tuple[str, ...],
                 key: tuple[int, ...]):
        super().__init__(key)
        self._script = script
        self._names = names

    @classmethod
    def trace(cls, model: "torch.nn.Module", example: Inputs,
              first: tuple[Inputs, "torch.Tensor"]) -> "TracedForward | None":
        """The traced forward of ``model`` on ``example``, checked bit for bit against the eager
        forward on ``example`` and on ``first`` (a batch and its eager states); None when the
        model cannot be traced or the trace disagrees."""
        import torch

        names = tuple(example)

        class Forward(torch.nn.Module):
            def __init__(self, inner: torch.nn.Module):
                super().__init__()
                self.inner = inner

            def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
                return self.inner(**dict(zip(names, tensors))).last_hidden_state

        script = quiet_trace(Forward(model).eval(), tuple(example.values()))
        if script is None:
            return None
        traced = cls(script, names, weights_key(model))
        batch, states = first
        if not (torch.equal(traced(example), eager_states(model, example))
                and torch.equal(traced(batch), states)):
            log.debug("the traced encoder disagrees with the eager one; it runs eagerly",
                      extra={"event": "trace_failed"})
            return None
        return traced

    def __call__(self, inputs: Inputs) -> "torch.Tensor":
        import torch

        with torch.inference_mode():
            return self._script(*(inputs[name] for name in self._names))
