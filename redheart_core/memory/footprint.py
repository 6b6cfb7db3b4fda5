"""What a module costs in device memory, measured without moving or (where possible) loading it.

Sizes are parameters + buffers, each tensor counted once (tied weights share one Parameter).
For a dry run a plugin can report sizes it knows without loading weights:
:func:`meta_module_bytes` builds the module on torch's ``meta`` device (shapes, no storage) and
:func:`safetensors_bytes` reads only the header of a ``.safetensors`` file.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Protocol, runtime_checkable

from ..capabilities import HasModules

if TYPE_CHECKING:
    import torch

SAFETENSORS_DTYPE_BYTES = {
    "F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2,
    "U16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I8": 1, "U8": 1, "BOOL": 1,
}


def declared_modules(component: object) -> "dict[str, torch.nn.Module]":
    """The torch modules a component (analyzer, embedder, translator, backend) declares through
    its optional ``modules()``, by the names it registers them under; none without one."""
    return dict(component.modules()) if isinstance(component, HasModules) else {}


@dataclass(frozen=True)
class ModuleFootprint:
    """One module as the memory manager plans it: size, the phases that use it, its priority.

    Higher ``priority`` stays resident longer: the lowest priority is evicted first.
    An empty ``phases`` means every phase uses the module.
    """

    name: str
    bytes: int
    phases: frozenset[str] = field(default_factory=frozenset)
    priority: int = 0
    depends_on: tuple[str, ...] = ()

    def used_in(self, phase: str) -> bool:
        return not self.phases or phase in self.phases


@runtime_checkable
class DeclaresFootprint(Protocol):
    """Knows its modules' sizes without loading weights (``redheart memory plan`` reads them);
    one of the optional members of :mod:`redheart_core.capabilities`."""

    def memory_footprint(self) -> Iterable[ModuleFootprint]: ...


def iter_tensor_slots(module: "torch.nn.Module") -> Iterator[tuple[Any, str, "torch.Tensor"]]:
    """``(owner submodule, attribute, tensor)`` for every parameter and buffer, shared ones
    included once per owner (the caller dedupes by tensor identity)."""
    for sub in module.modules():
        for attr, tensor in sub._parameters.items():
            if tensor is not None:
                yield sub, attr, tensor
        for attr, tensor in sub._buffers.items():
            if tensor is not None:
                yield sub, attr, tensor


def unique_tensors(module: "torch.nn.Module") -> list["torch.Tensor"]:
    seen: dict[int, Any] = {}
    for _, _, tensor in iter_tensor_slots(module):
        seen.setdefault(id(tensor), tensor)
    return list(seen.values())


def module_bytes(module: "torch.nn.Module") -> int:
    """Bytes of a module's parameters and buffers (works for ``meta`` tensors too)."""
    return sum(t.numel() * t.element_size() for t in unique_tensors(module))


def meta_module_bytes(build: Callable[[], "torch.nn.Module"]) -> int:
    """The size of the module ``build()`` returns, built on the ``meta`` device: no storage is
    allocated and no weights are read (e.g. ``lambda: AutoModel.from_config(config)``)."""
    import torch

    with torch.device("meta"):
        module = build()
    return module_bytes(module)


def pretrained_bytes(path: str | Path, dtype: Any = None,
                     auto_class: str = "AutoModelForCausalLM") -> int:
    """The size a transformers model directory will have once loaded as ``dtype`` (default:
    the dtype its config names), built from its ``config.json`` on the ``meta`` device."""
    import torch
    import transformers

    config = transformers.AutoConfig.from_pretrained(str(path), local_files_only=True)
    cls = getattr(transformers, auto_class)
    if dtype is None:
        dtype = getattr(config, "dtype", None)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    kwargs = {"dtype": dtype} if dtype is not None else {}
    return meta_module_bytes(lambda: cls.from_config(config, **kwargs))


def safetensors_bytes(paths: str | Path | Iterable[str | Path]) -> int:
    """Tensor bytes in ``.safetensors`` files (a file, a directory of them, or several), from
    their JSON headers alone."""
    if isinstance(paths, (str, Path)):
        path = Path(paths)
        files = sorted(path.glob("*.safetensors")) if path.is_dir() else [path]
    else:
        files = [Path(p) for p in paths]
    total = 0
    for file in files:
        with open(file, "rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(length))
        for key, info in header.items():
            if key == "__metadata__":
                continue
            start, end = info["data_offsets"]
            total += end - start
    return total
