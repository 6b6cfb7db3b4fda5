"""LLM backends: what the backend layer adds on top of the transport it wraps.

1. The Claude backend (real SDK) against a loopback stand-in, per call, against a bare httpx
   POST of the same body to the same server (baseline). Target: < 10 ms median overhead.
2. The local backend generating with a tiny random Llama (CUDA when available, else CPU),
   against ``model.generate`` on the same inputs in a worker thread (baseline; on a busy CPU
   torch in the main thread can be many times slower than in a worker). Target: < 25 % slower
   per call (the chat template, the stopping check, the hop to the thread).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time

CALLS = 60


async def _api_figures() -> tuple[float, float, float]:
    import httpx

    from redheart_core.llm.backend import LLMRequest, Message
    from redheart_core.testing.standin_servers import SAMPLE_READING
    from redheart_plugins_claude.standin import AnthropicStandin
    from redheart_plugins_claude import ClaudeOptions
    from redheart_plugins_claude.backend import ClaudeBackend

    request = LLMRequest(system="s", messages=[Message("user", "Summarise the situation.")], max_tokens=64)
    with AnthropicStandin(AnthropicStandin.analyst(SAMPLE_READING, "A short summary.")) as server:
        body = {"model": "claude-standin", "max_tokens": 64, "system": "s",
                "messages": [{"role": "user", "content": "Summarise the situation."}]}
        raw = []
        async with httpx.AsyncClient(base_url=server.url) as client:
            for _ in range(CALLS):
                start = time.perf_counter()
                response = await client.post("/v1/messages", json=body, headers={"x-api-key": "bench"})
                response.json()
                raw.append(time.perf_counter() - start)
        backend = ClaudeBackend(ClaudeOptions(api_key="bench", base_url=server.base_url, max_retries=0))
        timed = []
        for _ in range(CALLS):
            start = time.perf_counter()
            await backend.complete(request)
            timed.append(time.perf_counter() - start)
        start = time.perf_counter()
        await asyncio.gather(*(backend.complete(request) for _ in range(CALLS)))
        concurrent = CALLS / (time.perf_counter() - start)
        await backend.aclose()
    return statistics.median(raw), statistics.median(timed), concurrent


def _local_figures() -> tuple[str, float, float, int]:
    import torch

    from redheart_core.llm.backend import LLMRequest, Message
    from redheart_plugins_local import LocalOptions
    from redheart_plugins_local.backend import LocalBackend
    from redheart_plugins_local.testing import build_tiny_llama

    device = "cuda" if torch.cuda.is_available() else "cpu"
    new_tokens, runs = 32, 5
    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_llama(tmp, hidden_size=64, layers=4)
        backend = LocalBackend(LocalOptions(model_path=str(path), device=device, max_new_tokens=new_tokens))
        request = LLMRequest(system="Answer briefly.", messages=[Message("user", "My friend asked me to lie.")],
                             max_tokens=new_tokens)
        tokenizer, lm = backend.load()
        inputs = backend._inputs(tokenizer, lm, request)
        # a random model rarely stops early, but stop it never: both sides make the same tokens
        lm.generation_config.eos_token_id = None

        def raw_generate() -> None:
            with torch.inference_mode():
                lm.generate(**inputs, max_new_tokens=new_tokens, do_sample=False, temperature=None,
                            top_p=None, top_k=None, pad_token_id=tokenizer.pad_token_id)

        asyncio.run(asyncio.to_thread(raw_generate))
        raw = []
        for _ in range(runs):
            start = time.perf_counter()
            asyncio.run(asyncio.to_thread(raw_generate))
            if device == "cuda":
                torch.cuda.synchronize()
            raw.append(time.perf_counter() - start)
        timed, produced = [], 0
        for _ in range(runs):
            start = time.perf_counter()
            reply = asyncio.run(backend.complete(request))
            timed.append(time.perf_counter() - start)
            produced = reply.usage["output_tokens"]
    return device, statistics.median(raw), statistics.median(timed), produced


def main() -> bool:
    raw_s, backend_s, calls_per_s = asyncio.run(_api_figures())
    overhead_ms = (backend_s - raw_s) * 1000
    print(f"claude backend vs bare httpx, {CALLS} sequential calls to a loopback stand-in")
    print(f"  bare httpx POST (baseline)   median {raw_s * 1000:7.2f} ms")
    print(f"  ClaudeBackend.complete       median {backend_s * 1000:7.2f} ms  "
          f"(overhead {overhead_ms:.2f} ms, target < 10 ms)")
    print(f"  {CALLS} concurrent calls (max_concurrency 8): {calls_per_s:.0f} calls/s")

    device, gen_s, local_s, tokens = _local_figures()
    slower = local_s / gen_s - 1
    print(f"local backend, tiny random Llama on {device}, {tokens} new tokens per call")
    print(f"  model.generate (baseline)    median {gen_s * 1000:7.1f} ms "
          f"({tokens / gen_s:.0f} tokens/s)")
    print(f"  LocalBackend.complete        median {local_s * 1000:7.1f} ms "
          f"({tokens / local_s:.0f} tokens/s; {slower:+.0%}, target < +25 %)")
    return overhead_ms < 10 and slower < 0.25


if __name__ == "__main__":
    main()
