"""The local backend: a transformers causal LM on this machine.

The model loads on first use, in a worker thread, and generation runs in a worker thread too,
so the event loop keeps serving other requests. Its weights are registered with the memory
manager for the ``llm`` phase. A request that carries a JSON schema (the initial reading) is
decoded under that schema (:mod:`.constraint`) unless ``constrained`` is off; the shared
reading code still parses, validates and repairs, and a reply that stays unusable becomes a
recorded ``LLMOutputError``, never a crash.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterator

from redheart_core.llm.backend import LLMBackend, LLMRequest, LLMResponse
from redheart_core.llm.errors import LLMRequestError
from redheart_core.llm.usage import record_usage
from redheart_core.model.encoder import quiet_loading

from .gguf import default_cache_dir, gguf_bytes
from .loading import (memory_of, module_device, register_modules, resolve_device, resolve_dtype,
                      resolve_llm_source)

if TYPE_CHECKING:
    from redheart_core.runtime import Runtime

    from . import LocalOptions

#: used when a tokenizer ships without a chat template
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '### ' + message['role'] | capitalize + ':\n' + message['content'] + '\n\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '### Assistant:\n' }}{% endif %}"
)
MEMORY_NAME = "llm.local"
_END = object()


class LocalBackend(LLMBackend):
    """A causal LM from ``model_path``, greedy unless ``do_sample``."""

    def __init__(self, options: "LocalOptions", runtime: "Runtime | None" = None):
        self.options = options
        self.runtime = runtime
        cache_dir = Path(options.cache_dir).expanduser() if options.cache_dir else default_cache_dir()
        self.source = resolve_llm_source(options.model_path, options.gguf_file, cache_dir,
                                         "llm.options.model_path")
        #: the directory the model loads from (for a GGUF file: its converted copy)
        self.path = str(self.source.directory)
        self.device = resolve_device(options.device, runtime, "llm.options.device")
        self.dtype = resolve_dtype(options.dtype, self.device, "llm.options.dtype")
        self.english_only = bool(options.english_only)
        self.model = self.source.name
        self._tokenizer: Any = None
        self._lm: Any = None
        self._grammar: Any = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    # ------------------------------------------------------------ loading
    def load(self) -> tuple[Any, Any]:
        """Tokenizer and model, loaded once (thread-safe); called from worker threads."""
        with self._load_lock:
            if self._lm is None:
                from transformers import AutoModelForCausalLM, AutoTokenizer

                self.source.materialize()
                with quiet_loading():
                    tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
                    lm = AutoModelForCausalLM.from_pretrained(self.path, local_files_only=True, dtype=self.dtype)
                if not getattr(tokenizer, "chat_template", None):
                    tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
                lm.to(self.device).eval()
                self._lm = register_modules(self.runtime, {MEMORY_NAME: lm}, {"llm"})[MEMORY_NAME]
                self._tokenizer = tokenizer
            return self._tokenizer, self._lm

    @property
    def loaded(self) -> bool:
        return self._lm is not None

    def modules(self) -> dict[str, Any]:
        return {MEMORY_NAME: self._lm} if self._lm is not None else {}

    def memory_footprint(self) -> Iterator[Any]:
        """The model's size for ``redheart memory plan``, from its config alone (no weights; a
        GGUF file not converted yet is measured from its metadata)."""
        from redheart_core.memory import ModuleFootprint, pretrained_bytes

        size = (pretrained_bytes(self.path, self.dtype) if self.source.ready
                else gguf_bytes(self.source.gguf, self.dtype))
        yield ModuleFootprint(MEMORY_NAME, size, frozenset({"llm"}))

    # ------------------------------------------------------------ generation
    def _inputs(self, tokenizer: Any, lm: Any, request: LLMRequest) -> Any:
        messages = [{"role": "system", "content": request.system},
                    *({"role": m.role, "content": m.content} for m in request.messages)]
        encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                return_tensors="pt", return_dict=True)
        return encoded.to(module_device(lm))

    def _generate(self, request: LLMRequest, stop: threading.Event, streamer: Any = None) -> LLMResponse:
        """One generation, in a worker thread; ``stop`` ends it early (a cancelled request).

        It runs under the memory manager's out-of-memory recovery (make room and retry, then
        the CPU), except that a stream which has already shown text is not started again.
        """
        try:
            tokenizer, lm = self.load()
            memory = memory_of(self.runtime)

            def generate(_batch: list[LLMRequest]) -> list[LLMResponse]:
                if streamer is not None:
                    if streamer.shown:  # only on a retry: the first attempt has shown nothing
                        raise LLMRequestError("local: the device ran out of memory after the stream "
                                              "had begun; it is not started again")
                    streamer.restart()  # a retry starts from the prompt again; a no-op at first
                return [self._generate_once(tokenizer, lm, request, stop, streamer)]

            batch = [request]
            return (memory.run_recovering(generate, batch, self) if memory is not None
                    else generate(batch))[0]
        except (RuntimeError, ValueError, OSError) as exc:
            raise LLMRequestError(f"local: generation with {self.model!r} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            if streamer is not None:
                streamer.end()

    def _generate_once(self, tokenizer: Any, lm: Any, request: LLMRequest, stop: threading.Event,
                       streamer: Any) -> LLMResponse:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

        class Stop(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return stop.is_set()

        with self._run_lock, torch.inference_mode():
            inputs = self._inputs(tokenizer, lm, request)
            prompt_len = inputs["input_ids"].shape[1]
            opts = self.options
            sampling = {"do_sample": True, "temperature": opts.temperature} if opts.do_sample else {
                "do_sample": False, "temperature": None, "top_p": None, "top_k": None}
            schema = request.bounded_schema or request.json_schema
            if schema is not None and opts.constrained:
                grammar = self._schema_grammar(tokenizer, lm)  # under the run lock: made once
                sampling["logits_processor"] = LogitsProcessorList([grammar.processor(schema)])
            output = lm.generate(
                **inputs, max_new_tokens=min(opts.max_new_tokens, request.max_tokens),
                pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None
                else tokenizer.eos_token_id,
                stopping_criteria=StoppingCriteriaList([Stop()]), streamer=streamer, **sampling)
        new = output[0, prompt_len:]
        text = tokenizer.decode(new, skip_special_tokens=True)
        return LLMResponse(text=text, model=self.model,
                           usage={"input_tokens": int(prompt_len), "output_tokens": int(new.shape[0])})

    def _schema_grammar(self, tokenizer: Any, lm: Any) -> Any:
        """The tokenizer's grammar compiler, made on the first structured request (its
        vocabulary scan takes a moment, which a summary-only run never pays)."""
        if self._grammar is None:
            from .constraint import SchemaGrammar

            self._grammar = SchemaGrammar(tokenizer, lm.config.vocab_size)
        return self._grammar

    async def complete(self, request: LLMRequest) -> LLMResponse:
        stop = threading.Event()
        try:
            return await asyncio.to_thread(self._generate, request, stop)
        finally:
            stop.set()

    async def stream_complete(self, request: LLMRequest) -> AsyncIterator[str]:
        """Text as it is generated, through transformers' ``TextIteratorStreamer``."""
        tokenizer, _ = await asyncio.to_thread(self.load)
        streamer = _streamer(tokenizer)
        stop = threading.Event()
        job = asyncio.ensure_future(asyncio.to_thread(self._generate, request, stop, streamer))
        chunks = iter(streamer)
        try:
            while True:
                chunk = await asyncio.to_thread(next, chunks, _END)
                if chunk is _END:
                    break
                if chunk:
                    yield chunk
            record_usage((await job).usage)
        finally:
            stop.set()
            if not job.done():
                # a consumer that stopped early: the thread sees ``stop`` and ends on its own
                job.add_done_callback(lambda j: j.exception() if not j.cancelled() else None)

    async def aclose(self) -> None:
        """Nothing to close: the weights stay with the memory manager for the process."""


def _streamer(tokenizer: Any) -> Any:
    """transformers' ``TextIteratorStreamer`` that knows whether it has shown any text, and can
    be set back to the start for a generation run again after an out-of-memory error."""
    from transformers import TextIteratorStreamer

    class Streamer(TextIteratorStreamer):
        shown = False

        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            self.shown = self.shown or bool(text)
            super().on_finalized_text(text, stream_end)

        def restart(self) -> None:
            self.token_cache, self.print_len, self.next_tokens_are_prompt = [], 0, True

    return Streamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
