"""Pinned host copies and the transfers between them and the device.

Each registered module's parameters and buffers are packed once into host buffers (page-locked
on CUDA) and the module's tensors become views into them. Loading allocates one device buffer
per chunk and issues one non-blocking copy per chunk on a side stream; the module's tensors
become views into the device buffers. Evicting points the views back at the host buffers and
drops the device buffers: no bytes move, the allocator just gets its blocks back. There is
never a pageable ``module.to("cpu")`` round trip.

Packing tensors into chunks (up to :data:`CHUNK_BYTES`) instead of copying tensor by tensor
keeps a model with hundreds of small LayerNorm tensors at full copy bandwidth, while a chunk
limit keeps one huge contiguous allocation from failing on a fragmented device.

Modules are treated as read-only while managed (inference): the host copy is the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .footprint import iter_tensor_slots

if TYPE_CHECKING:
    import torch

ALIGN = 64
CHUNK_BYTES = 256 * 1024 ** 2


@dataclass
class _Slot:
    """One unique tensor: where it sits in which chunk, and the attributes that hold it."""

    owners: list[tuple[Any, str, bool]]  # (submodule, attribute, is_parameter)
    chunk: int
    offset: int
    nbytes: int
    dtype: Any
    shape: tuple[int, ...]
    parameter: Any = None  # the nn.Parameter object, kept so its identity survives swaps


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


class OffloadedModule:
    """A module whose weights live in host buffers; device copies are made and dropped."""

    def __init__(self, module: "torch.nn.Module", device: "torch.device"):
        import torch

        self.module = module
        self.device = device
        self.pinned = device.type == "cuda"
        self._slots = self._layout(module)
        sizes = [0] * (max((s.chunk for s in self._slots), default=-1) + 1)
        for slot in self._slots:
            sizes[slot.chunk] = max(sizes[slot.chunk], slot.offset + _aligned(slot.nbytes))
        self.host = [torch.empty(max(size, 1), dtype=torch.uint8, pin_memory=self.pinned)
                     for size in sizes]
        self.nbytes = sum(s.nbytes for s in self._slots)
        originals = self._current_tensors()
        for slot, tensor in zip(self._slots, originals):
            self._view(self.host, slot).copy_(tensor.detach())
        del originals
        self._device_buffers: list[torch.Tensor] | None = None
        self._point_at(self.host)
        self.event: Any = None  # CUDA event of the last load, None once waited for

    @staticmethod
    def _layout(module: "torch.nn.Module") -> list[_Slot]:
        import torch

        slots: dict[int, _Slot] = {}
        chunk, offset = 0, 0
        for owner, attr, tensor in iter_tensor_slots(module):
            slot = slots.get(id(tensor))
            is_param = isinstance(tensor, torch.nn.Parameter)
            if slot is None:
                nbytes = tensor.numel() * tensor.element_size()
                if offset and offset + nbytes > CHUNK_BYTES:
                    chunk, offset = chunk + 1, 0
                slot = _Slot([], chunk, offset, nbytes, tensor.dtype, tuple(tensor.shape),
                             tensor if is_param else None)
                slots[id(tensor)] = slot
                offset += _aligned(nbytes)
            slot.owners.append((owner, attr, is_param))
        return list(slots.values())

    def _current_tensors(self) -> list["torch.Tensor"]:
        out = []
        for slot in self._slots:
            owner, attr, is_param = slot.owners[0]
            out.append(owner._parameters[attr] if is_param else owner._buffers[attr])
        return out

    @staticmethod
    def _view(buffers: list["torch.Tensor"], slot: _Slot) -> "torch.Tensor":
        raw = buffers[slot.chunk][slot.offset:slot.offset + slot.nbytes]
        return raw.view(slot.dtype).view(slot.shape)

    def _point_at(self, buffers: list["torch.Tensor"]) -> None:
        for slot in self._slots:
            view = self._view(buffers, slot)
            if slot.parameter is not None:
                slot.parameter.data = view
            for owner, attr, is_param in slot.owners:
                if not is_param:
                    owner._buffers[attr] = view

    @property
    def on_device(self) -> bool:
        return self._device_buffers is not None

    def load(self, stream: Any = None) -> int:
        """Start copying the host buffers to the device (on ``stream`` when CUDA); returns bytes.

        The module points at the device buffers at once; :meth:`wait` before running it.
        """
        import torch

        if self._device_buffers is not None:
            return 0
        device_buffers = [torch.empty(h.numel(), dtype=torch.uint8, device=self.device)
                          for h in self.host]
        if self.device.type == "cuda":
            stream = stream or torch.cuda.current_stream(self.device)
            # The new blocks may reuse memory that queued kernels still read.
            stream.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(stream):
                for dev, host in zip(device_buffers, self.host):
                    dev.copy_(host, non_blocking=True)
                    dev.record_stream(stream)
            self.event = torch.cuda.Event()
            self.event.record(stream)
        else:
            for dev, host in zip(device_buffers, self.host):
                dev.copy_(host)
        self._device_buffers = device_buffers
        self._point_at(device_buffers)
        return sum(h.numel() for h in self.host)

    def wait(self) -> None:
        """Block until the last load's copies are complete (a no-op off CUDA)."""
        if self.event is not None:
            self.event.synchronize()
            self.event = None

    def evict(self) -> None:
        """Point the module back at the host copy and free the device buffers."""
        if self._device_buffers is None:
            return
        self._point_at(self.host)
        self._device_buffers = None
        self.event = None

    def placement(self) -> "torch.device":
        """Where the module's tensors are now."""
        return self.device if self._device_buffers is not None else self.host[0].device
