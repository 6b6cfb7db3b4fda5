"""The OpenAI backend: ``openai.AsyncOpenAI`` against OpenAI or an OpenAI-compatible server."""

from __future__ import annotations

import contextlib
import logging
from typing import Any, AsyncIterator

import httpx
import openai

from redheart_core.errors import ConfigError
from redheart_core.llm.backend import LLMRequest, LLMResponse
from redheart_core.llm.remote import RemoteBackend, attempts, count_attempt
from redheart_core.llm.usage import record_usage

#: structured-output modes, strongest first; ``auto`` walks down when the server rejects one.
#: ``json_object_schema`` is JSON mode carrying the schema (``{type: json_object, schema}``), the
#: form llama-cpp-python's server compiles into a grammar; it gets the bounded reading schema.
MODES = ("json_schema", "json_object_schema", "json_object", "prompt")


def rejects(exc: openai.APIStatusError, field: str) -> bool:
    """Whether the server refused a request field it does not know: a 400 or 422, or any
    status whose error names the field (llama-cpp-python's server answers a failed request
    validation with HTTP 500, e.g. to ``response_format`` json_schema)."""
    return exc.status_code in (400, 422) or field in str(exc.message)

log = logging.getLogger(__name__)


class OpenAIBackend(RemoteBackend):
    """Chat Completions. Structured output through ``response_format`` json_schema (strict),
    falling back to JSON mode with the schema, plain JSON mode and then the prompt alone for
    servers that reject it."""

    vendor = "openai"
    env_var = "OPENAI_API_KEY"
    api_name = "the OpenAI API"
    placeholder_hint = True

    def __init__(self, options: Any):
        if options.structured_output not in ("auto", *MODES):
            raise ConfigError("llm.options.structured_output",
                              f"unknown mode {options.structured_output!r}", choices=("auto", *MODES))
        super().__init__(options)
        self._mode = MODES[0] if options.structured_output == "auto" else options.structured_output
        self._stream_usage = True

    @property
    def structured_output_mode(self) -> str:
        """The mode structured requests use now (``auto`` settles on the strongest the server
        accepts)."""
        return self._mode

    def _make_client(self) -> openai.AsyncOpenAI:
        http = openai.DefaultAsyncHttpxClient(event_hooks={"request": [count_attempt]})
        return openai.AsyncOpenAI(api_key=self._key, organization=self.options.organization,
                                  base_url=self.options.base_url, timeout=self.options.timeout_s,
                                  max_retries=self.options.max_retries, http_client=http)

    def _error(self, exc: openai.APIError, attempt_count: int) -> Exception:
        return self.request_error(exc, attempt_count, timeout=isinstance(exc, openai.APITimeoutError),
                                  connection=isinstance(exc, openai.APIConnectionError))

    def _params(self, request: LLMRequest, mode: str) -> dict[str, Any]:
        opts = self.options
        limit = self._max_tokens(request.max_tokens)
        params: dict[str, Any] = {
            "model": opts.model,
            "messages": [{"role": "system", "content": request.system},
                         *({"role": m.role, "content": m.content} for m in request.messages)],
            "temperature": request.temperature if opts.temperature is None else opts.temperature,
            # OpenAI's own API wants max_completion_tokens; compatible servers know max_tokens
            ("max_tokens" if opts.base_url else "max_completion_tokens"): limit,
        }
        if request.json_schema is not None and mode == "json_schema":
            params["response_format"] = {"type": "json_schema", "json_schema": {
                "name": request.schema_name, "schema": request.json_schema, "strict": True}}
        elif request.json_schema is not None and mode == "json_object_schema":
            params["response_format"] = {"type": "json_object",
                                         "schema": request.bounded_schema or request.json_schema}
        elif request.json_schema is not None and mode == "json_object":
            params["response_format"] = {"type": "json_object"}
        return params

    async def complete(self, request: LLMRequest) -> LLMResponse:
        client, slot = self._clients.get()
        async with slot:
            while True:
                mode = self._mode
                with attempts() as counter:
                    try:
                        completion = await client.chat.completions.create(**self._params(request, mode))
                        break
                    except openai.APIStatusError as exc:
                        if not (rejects(exc, "response_format") and self._step_down(request, mode, exc)):
                            raise self._error(exc, counter[0]) from None
                    except openai.APIError as exc:
                        raise self._error(exc, counter[0]) from None
                    finally:
                        retries = max(0, counter[0] - 1)
                        self.retries_total += retries
        text = ""
        if isinstance(completion, str):
            text = completion
        else:
            choices = getattr(completion, "choices", None)
            message = getattr(choices[0], "message", None) if isinstance(choices, list) and choices else None
            text = getattr(message, "content", None) or getattr(message, "refusal", None) or ""
        model = getattr(completion, "model", None)
        return LLMResponse(text=text if isinstance(text, str) else "", usage=_usage(getattr(completion, "usage", None)),
                           model=model if isinstance(model, str) else self.model, retries=retries)

    def _step_down(self, request: LLMRequest, mode: str, exc: openai.APIStatusError) -> bool:
        """When the server rejects a structured-output request's format in ``auto`` mode, use
        the next weaker mode from now on and say so once; False when there is nothing weaker."""
        if (request.json_schema is None or self.options.structured_output != "auto"
                or mode == MODES[-1]):
            return False
        if self._mode == mode:
            self._mode = MODES[MODES.index(mode) + 1]
            log.info("openai: the server rejected response_format %s (HTTP %s); using %s from now on",
                     mode, exc.status_code, self._mode)
        return True

    async def _open_stream(self, client: openai.AsyncOpenAI, request: LLMRequest) -> Any:
        """A ``stream=True`` completion, asking for a final usage chunk unless the server has
        refused ``stream_options`` before (some compatible servers answer 400 to it)."""
        params = {**self._params(request, self._mode), "stream": True}
        if self._stream_usage:
            try:
                return await client.chat.completions.create(**params, stream_options={"include_usage": True})
            except openai.APIStatusError as exc:
                if not rejects(exc, "stream_options"):
                    raise
                self._stream_usage = False
                log.info("openai: the server rejected stream_options (HTTP %s); streaming without usage",
                         exc.status_code)
        return await client.chat.completions.create(**params)

    async def stream_complete(self, request: LLMRequest) -> AsyncIterator[str]:
        """Content deltas of a ``stream=True`` completion. The SDK retries before the stream
        opens; an error after the first chunk, a dropped connection, or a stream that ends
        without a ``finish_reason`` ends it with :class:`LLMRequestError`; a response with no
        chunk at all (not an event stream) with :class:`LLMOutputError`."""
        client, slot = self._clients.get()
        usage = None
        async with slot, contextlib.AsyncExitStack() as stack:
            with attempts() as counter:
                try:
                    stream = await self._open_stream(client, request)
                except openai.APIError as exc:
                    raise self._error(exc, counter[0]) from None
                finally:
                    self.retries_total += max(0, counter[0] - 1)
            stack.push_async_callback(stream.close)
            finished, chunks = False, 0
            try:
                async for chunk in stream:
                    chunks += 1
                    usage = _usage(getattr(chunk, "usage", None)) or usage
                    for choice in chunk.choices or []:
                        finished = finished or choice.finish_reason is not None
                        text = getattr(choice.delta, "content", None)
                        if text:
                            yield text
            except openai.APIError as exc:
                raise self._error(exc, 1) from None
            except httpx.TransportError as exc:  # the SDK does not wrap errors inside a stream
                raise self.stream_broken(f"{type(exc).__name__}: {exc}") from None
            if not chunks:
                raise self.stream_unreadable("no chunk in the response")
            if not finished:
                raise self.stream_broken("the stream ended without a finish_reason")
        record_usage(usage)


def _usage(usage: Any) -> dict[str, int] | None:
    """Token counts under the same names as the Claude backend's."""
    if usage is None:
        return None
    found = {"input_tokens": getattr(usage, "prompt_tokens", None),
             "output_tokens": getattr(usage, "completion_tokens", None)}
    return {k: v for k, v in found.items() if isinstance(v, int)} or None
