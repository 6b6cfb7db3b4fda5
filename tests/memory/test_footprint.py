"""Sizes for plans without loading weights: meta-device builds and safetensors headers."""

from __future__ import annotations

import torch

from redheart_core.memory import (meta_module_bytes, module_bytes, pretrained_bytes,
                                  safetensors_bytes)


def test_a_meta_build_sizes_a_module_without_allocating_it():
    build = lambda: torch.nn.Sequential(torch.nn.Linear(1000, 1000), torch.nn.LayerNorm(1000))
    assert meta_module_bytes(build) == module_bytes(build()) == (1000 * 1000 + 1000 + 2000) * 4


def test_a_transformers_directory_is_sized_from_its_config_and_headers(tmp_path):
    import transformers

    config = transformers.GPT2Config(n_layer=2, n_embd=64, n_head=2, vocab_size=500, n_positions=64)
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path)
    loaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, local_files_only=True)
    full = module_bytes(loaded)
    assert pretrained_bytes(tmp_path) == full  # the tied lm_head counted once
    assert safetensors_bytes(tmp_path) == full
    assert pretrained_bytes(tmp_path, torch.float16) == module_bytes(loaded.half()) == full // 2
