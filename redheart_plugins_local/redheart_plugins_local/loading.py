"""Finding and loading local models: a directory, a hub id already in the local cache, a GGUF
file or a named offline model (:mod:`.gguf`), never a download. The same code loads the tiny
models the tests build and a user's real ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from redheart_core.errors import ConfigError

from .gguf import NAMED_MODELS, ModelSource, converted_dir, named_model_file

if TYPE_CHECKING:
    from redheart_core.memory.manager import UnifiedMemoryManager
    from redheart_core.runtime import Runtime

DTYPES = ("auto", "float32", "float16", "bfloat16")


def resolve_model_path(path: str | None, key: str) -> str:
    """``path`` if it is a directory, else the snapshot of that hub id in the local cache."""
    if not path:
        raise ConfigError(key, "is required: a model directory saved with save_pretrained, or a "
                          "hub id already in the local Hugging Face cache")
    if Path(path).expanduser().is_dir():
        return str(Path(path).expanduser())
    if not Path(path).expanduser().exists():
        from huggingface_hub import try_to_load_from_cache

        try:
            cached = try_to_load_from_cache(path, "config.json")
        except Exception:  # not a valid repo id either
            cached = None
        if isinstance(cached, str):
            return str(Path(cached).parent)
    raise ConfigError(key, f"{path!r} is neither a model directory nor a model in the local Hugging "
                      "Face cache (nothing is downloaded at run time); give a directory saved with "
                      f"save_pretrained, or fetch it once with `huggingface-cli download {path}`")


def resolve_llm_source(path: str | None, gguf_file: str | None, cache_dir: Path, key: str) -> ModelSource:
    """Where the local backend's model comes from: a named offline model (``smollm2``), a
    ``.gguf`` file, a directory plus ``gguf_file`` in it, a model directory or a cached hub id.
    A GGUF file is loaded from its converted copy under ``cache_dir``."""
    if not path:
        raise ConfigError(key, "is required: a model directory saved with save_pretrained, a hub id "
                          "already in the local Hugging Face cache, a .gguf file, or a named offline "
                          f"model ({', '.join(NAMED_MODELS)})")
    if path in NAMED_MODELS:
        gguf = named_model_file(path, key)
    elif path.endswith(".gguf") or gguf_file:
        gguf = Path(path).expanduser() / gguf_file if gguf_file else Path(path).expanduser()
        if not gguf.is_file():
            raise ConfigError(key, f"no GGUF file at {str(gguf)!r}")
    else:
        return ModelSource(Path(resolve_model_path(path, key)), name=str(path))
    return ModelSource(converted_dir(gguf, cache_dir), gguf=gguf, name=gguf.stem)


def resolve_device(option: str, runtime: "Runtime | None", key: str) -> str:
    """``auto``: the memory manager's device when there is one, else cuda when available."""
    import torch

    if option == "auto":
        memory = memory_of(runtime)
        if memory is not None:
            return str(memory.device)
        return "cuda" if torch.cuda.is_available() else "cpu"
    if option.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(key, f"device {option!r} was asked for but CUDA is not available; use cpu or auto")
    if option != "cpu" and not option.startswith("cuda"):
        raise ConfigError(key, f"unknown device {option!r}", choices=("auto", "cpu", "cuda", "cuda:N"))
    return option


def resolve_dtype(option: str, device: str, key: str) -> Any:
    """``auto``: float32 on the CPU, bfloat16 on a GPU that has it, else float16."""
    import torch

    if option not in DTYPES:
        raise ConfigError(key, f"unknown dtype {option!r}", choices=DTYPES)
    if option == "auto":
        if not device.startswith("cuda"):
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return getattr(torch, option)


def memory_of(runtime: "Runtime | None") -> "UnifiedMemoryManager | None":
    """The runtime's memory manager, or None for a build without a runtime."""
    return None if runtime is None else runtime.memory


def register_modules(runtime: "Runtime | None", modules: dict[str, Any], phases: set[str]) -> dict[str, Any]:
    """Hand ``modules`` to the memory manager (when there is one); returns what it manages."""
    memory = memory_of(runtime)
    if memory is None:
        return modules
    return {name: memory.register(name, module, phases=phases) for name, module in modules.items()}


def module_device(module: Any) -> Any:
    """Where ``module``'s weights are now (the memory manager may have moved them)."""
    return next(module.parameters()).device
