"""The local plugin's models are sized for ``redheart memory plan`` without loading weights,
and the size matches what loading them actually takes."""

from __future__ import annotations

import json
import subprocess
import sys

from redheart_core.config import load_config
from redheart_core.memory import module_bytes
from redheart_core.runtime import Runtime


def test_local_backend_and_marian_footprints_equal_their_loaded_size(tiny_llama, tiny_marian):
    cfg = load_config(overrides=["llm.backend=local", f"llm.options.model_path={tiny_llama}",
                                 "translation.translator=marian",
                                 f"translation.options.model_path={tiny_marian}",
                                 "translation.options.max_length=16", "analyzers=[]"])
    runtime = Runtime(cfg)
    (llm_fp,) = runtime.llm.memory_footprint()
    (mt_fp,) = runtime.translator.memory_footprint()
    assert not runtime.llm.loaded and not runtime.translator.loaded
    assert llm_fp.phases == {"llm"} and mt_fp.phases == {"llm"}
    _, lm = runtime.llm.load()
    runtime.translator.translate_batch(["안녕하세요"])
    assert llm_fp.bytes == module_bytes(lm)
    assert mt_fp.bytes == module_bytes(runtime.translator.modules()["translator.marian"])


def test_memory_plan_lists_the_local_model_before_it_is_loaded(tiny_llama):
    out = subprocess.run([sys.executable, "-m", "redheart_core", "memory", "plan", "--json",
                          "--set", "llm.backend=local", "--set", f"llm.options.model_path={tiny_llama}",
                          "--set", "analyzers=[]"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    assert plan["modules"]["llm.local"]["phases"] == ["llm"]
    assert plan["modules"]["llm.local"]["bytes"] > 0
