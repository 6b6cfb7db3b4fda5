"""The Claude backend: ``anthropic.AsyncAnthropic`` with a forced tool call for the reading."""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator

import anthropic

from redheart_core.llm.backend import LLMRequest, LLMResponse
from redheart_core.llm.remote import RemoteBackend, attempts, count_attempt
from redheart_core.llm.usage import record_usage


class ClaudeBackend(RemoteBackend):
    """Anthropic's Messages API. Structured output: the reading schema is the input schema of
    a tool the model is forced to call, so the reply arrives as parsed JSON."""

    vendor = "claude"
    env_var = "ANTHROPIC_API_KEY"
    api_name = "the Anthropic API"

    def _make_client(self) -> anthropic.AsyncAnthropic:
        http = anthropic.DefaultAsyncHttpxClient(event_hooks={"request": [count_attempt]})
        return anthropic.AsyncAnthropic(api_key=self._key, base_url=self.options.base_url,
                                        timeout=self.options.timeout_s,
                                        max_retries=self.options.max_retries, http_client=http)

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.options.model,
            "max_tokens": self._max_tokens(request.max_tokens),
            "system": request.system,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        if self.options.temperature is not None:
            params["extra_body"] = {"temperature": self.options.temperature}
        if request.json_schema is not None:
            params["tools"] = [{"name": request.schema_name, "input_schema": request.json_schema,
                                "description": "Record the structured reading of the situation."}]
            params["tool_choice"] = {"type": "tool", "name": request.schema_name}
        return params

    def _error(self, exc: anthropic.APIError, attempt_count: int) -> Exception:
        return self.request_error(exc, attempt_count,
                                  timeout=isinstance(exc, anthropic.APITimeoutError),
                                  connection=isinstance(exc, anthropic.APIConnectionError))

    async def complete(self, request: LLMRequest) -> LLMResponse:
        client, slot = self._clients.get()
        async with slot:
            with attempts() as counter:
                try:
                    message = await client.messages.create(**self._params(request))
                except anthropic.APIError as exc:
                    raise self._error(exc, counter[0]) from None
                finally:
                    retries = max(0, counter[0] - 1)
                    self.retries_total += retries
        # a gateway may answer with something that is not a Message: read what is there
        texts, data = ([message] if isinstance(message, str) else []), None
        content = getattr(message, "content", None)
        for block in content if isinstance(content, list) else []:
            kind = getattr(block, "type", None)
            if kind == "text":
                texts.append(block.text)
            elif kind == "tool_use" and getattr(block, "name", None) == request.schema_name:
                data = block.input if isinstance(block.input, dict) else None
        model = getattr(message, "model", None)
        return LLMResponse(text="".join(texts), model=model if isinstance(model, str) else self.model,
                           usage=_usage(getattr(message, "usage", None)), data=data, retries=retries)

    async def stream_complete(self, request: LLMRequest) -> AsyncIterator[str]:
        """Text deltas from the SDK's message stream. The SDK retries before the stream opens;
        an error after the first chunk ends the stream with :class:`LLMRequestError`."""
        client, slot = self._clients.get()
        async with slot, contextlib.AsyncExitStack() as stack:
            with attempts() as counter:
                try:
                    stream = await stack.enter_async_context(client.messages.stream(**self._params(request)))
                except anthropic.APIError as exc:
                    raise self._error(exc, counter[0]) from None
                finally:
                    self.retries_total += max(0, counter[0] - 1)
            try:
                async for text in stream.text_stream:
                    yield text
                final = await stream.get_final_message()
            except anthropic.APIError as exc:
                raise self._error(exc, 1) from None
        record_usage(_usage(final.usage))


def _usage(usage: Any) -> dict[str, int] | None:
    if usage is None:
        return None
    found = {key: getattr(usage, key, None) for key in ("input_tokens", "output_tokens")}
    return {k: v for k, v in found.items() if isinstance(v, int)} or None
