"""Device memory as the driver sees it (pynvml) and as this process's allocator sees it (torch).

NVML counts every process and the CUDA context; the torch allocator counts only this process's
tensors and its cache. Pressure is judged on the driver's figure: when free memory falls below
the headroom, the manager evicts what the current phase does not need and empties the cache.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class DeviceMemory:
    """One reading. Driver figures are None when NVML is unavailable."""

    device: str
    name: str
    total_bytes: int | None = None
    used_bytes: int | None = None
    free_bytes: int | None = None
    driver_reserved_bytes: int | None = None
    driver_version: str | None = None
    source: str = "none"  # "nvml v2" | "nvml" | "torch" | "none"
    allocated_bytes: int = 0
    reserved_bytes: int = 0
    peak_allocated_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class DeviceMonitor:
    """Readings for one torch device (``"cuda:0"``); on the CPU it reports nothing to watch."""

    def __init__(self, device: str):
        self.device = device
        self._handle: Any = None
        self._nvml: Any = None
        self._nvml_failed = False

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    def _nvml_handle(self) -> Any:
        if self._handle is not None or self._nvml_failed or not self.is_cuda:
            return self._handle
        try:
            import pynvml
            import torch

            pynvml.nvmlInit()
            index = torch.device(self.device).index or 0
            uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
            try:  # the UUID survives CUDA_VISIBLE_DEVICES renumbering; the index does not
                self._handle = pynvml.nvmlDeviceGetHandleByUUID(f"GPU-{uuid}")
            except Exception:
                self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self._nvml = pynvml
        except Exception as exc:
            log.info("NVML unavailable (%s); using torch allocator figures only", exc)
            self._nvml_failed = True
        return self._handle

    def snapshot(self) -> DeviceMemory:
        if not self.is_cuda:
            return DeviceMemory(self.device, "cpu")
        import torch

        index = torch.device(self.device).index or 0
        reading = DeviceMemory(self.device, torch.cuda.get_device_name(index),
                               allocated_bytes=torch.cuda.memory_allocated(index),
                               reserved_bytes=torch.cuda.memory_reserved(index),
                               peak_allocated_bytes=torch.cuda.max_memory_allocated(index))
        handle = self._nvml_handle()
        if handle is not None:
            nvml = self._nvml
            try:
                info = nvml.nvmlDeviceGetMemoryInfo(handle, version=nvml.nvmlMemory_v2)
                reading.driver_reserved_bytes = int(info.reserved)
                reading.source = "nvml v2"
            except Exception:
                info = nvml.nvmlDeviceGetMemoryInfo(handle)
                reading.source = "nvml"
            reading.total_bytes, reading.used_bytes = int(info.total), int(info.used)
            reading.free_bytes = int(info.free)
            try:
                reading.driver_version = _decode(nvml.nvmlSystemGetDriverVersion())
            except Exception:
                pass
        else:
            free, total = torch.cuda.mem_get_info(index)
            reading.total_bytes, reading.free_bytes = int(total), int(free)
            reading.used_bytes = int(total - free)
            reading.source = "torch"
        return reading

    def under_pressure(self, headroom_bytes: int) -> bool:
        """Whether the device's free memory has fallen below ``headroom_bytes``."""
        if not self.is_cuda:
            return False
        free = self.snapshot().free_bytes
        return free is not None and free < headroom_bytes

    def peak_allocated(self) -> int:
        if not self.is_cuda:
            return 0
        import torch

        return int(torch.cuda.max_memory_allocated(torch.device(self.device)))
