"""The Claude backend: ``anthropic.AsyncAnthropic`` with a forced tool call for the reading."""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator

import anthropic

from redheart_core.errors import ConfigError
from redheart_core.llm.backend import LLMBackend, LLMRequest, LLMResponse
from redheart_core.llm.errors import LLMRequestError
from redheart_core.llm.remote import LoopBound, attempts, count_attempt, guard_logs, resolve_api_key
from redheart_core.llm.usage import record_usage

ENV_VAR = "ANTHROPIC_API_KEY"


class ClaudeBackend(LLMBackend):
    """Anthropic's Messages API. Structured output: the reading schema is the input schema of
    a tool the model is forced to call, so the reply arrives as parsed JSON."""

    def __init__(self, options: Any):
        for key in ("max_concurrency", "max_retries"):
            if getattr(options, key) < (1 if key == "max_concurrency" else 0):
                raise ConfigError(f"llm.options.{key}", f"must be at least "
                                  f"{1 if key == 'max_concurrency' else 0}, got {getattr(options, key)}")
        if options.timeout_s <= 0:
            raise ConfigError("llm.options.timeout_s", f"must be positive, got {options.timeout_s}")
        self.options = options
        self.model = options.model
        self._key = resolve_api_key(options.api_key, ENV_VAR, "claude")
        self._unguard = guard_logs(self._key)
        self._clients = LoopBound(self._make_client, options.max_concurrency)

    def _make_client(self) -> anthropic.AsyncAnthropic:
        http = anthropic.DefaultAsyncHttpxClient(event_hooks={"request": [count_attempt]})
        return anthropic.AsyncAnthropic(api_key=self._key, base_url=self.options.base_url,
                                        timeout=self.options.timeout_s,
                                        max_retries=self.options.max_retries, http_client=http)

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        opts = self.options
        params: dict[str, Any] = {
            "model": opts.model,
            "max_tokens": min(request.max_tokens, opts.max_tokens) if opts.max_tokens else request.max_tokens,
            "system": request.system,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        if opts.temperature is not None:
            # the SDK no longer has a temperature argument (recent models fix sampling); a user who
            # sets one gets it sent as-is, for models and gateways that still accept it
            params["extra_body"] = {"temperature": opts.temperature}
        if request.json_schema is not None:
            params["tools"] = [{"name": request.schema_name, "input_schema": request.json_schema,
                                "description": "Record the structured reading of the situation."}]
            params["tool_choice"] = {"type": "tool", "name": request.schema_name}
        return params

    async def complete(self, request: LLMRequest) -> LLMResponse:
        client, limit = self._clients.get()
        async with limit:
            with attempts() as counter:
                try:
                    message = await client.messages.create(**self._params(request))
                except anthropic.APIError as exc:
                    raise self._request_error(exc, counter[0]) from None
                finally:
                    retries = max(0, counter[0] - 1)
                    self.retries_total += retries
        texts, data = ([message] if isinstance(message, str) else []), None
        content = getattr(message, "content", None)
        for block in content if isinstance(content, list) else []:
            kind = getattr(block, "type", None)
            if kind == "text":
                texts.append(block.text)
            elif kind == "tool_use" and getattr(block, "name", None) == request.schema_name:
                data = block.input if isinstance(block.input, dict) else None
        usage = _usage(getattr(message, "usage", None))
        model = getattr(message, "model", None)
        return LLMResponse(text="".join(texts), model=model if isinstance(model, str) else self.model, usage=usage,
                           data=data, retries=retries)

    async def stream_complete(self, request: LLMRequest) -> AsyncIterator[str]:
        """Text deltas from the SDK's message stream. The SDK retries before the stream opens;
        an error after the first chunk ends the stream with :class:`LLMRequestError`."""
        client, limit = self._clients.get()
        async with limit, contextlib.AsyncExitStack() as stack:
            with attempts() as counter:
                try:
                    stream = await stack.enter_async_context(client.messages.stream(**self._params(request)))
                except anthropic.APIError as exc:
                    raise self._request_error(exc, counter[0]) from None
                finally:
                    self.retries_total += max(0, counter[0] - 1)
            try:
                async for text in stream.text_stream:
                    yield text
                final = await stream.get_final_message()
            except anthropic.APIError as exc:
                raise self._request_error(exc, 1) from None
        record_usage(_usage(final.usage))

    def _request_error(self, exc: anthropic.APIError, attempt_count: int) -> LLMRequestError:
        where = self.options.base_url or "the Anthropic API"
        retries = f" after {attempt_count - 1} retries" if attempt_count > 1 else ""
        if isinstance(exc, anthropic.APITimeoutError):
            return LLMRequestError(f"claude: no answer from {where} within {self.options.timeout_s}s{retries}")
        if isinstance(exc, anthropic.APIConnectionError):
            return LLMRequestError(f"claude: could not connect to {where}{retries}")
        status = getattr(exc, "status_code", None)
        body = getattr(exc, "body", None)
        detail = body.get("error", {}).get("message") if isinstance(body, dict) and isinstance(
            body.get("error"), dict) else None
        if status == 401:
            return LLMRequestError(f"claude: the API rejected the key (HTTP 401); check {ENV_VAR}")
        if status is None:
            return LLMRequestError(f"claude: {type(exc).__name__}: {detail or exc.message}")
        return LLMRequestError(f"claude: HTTP {status} from {where}{retries}: {detail or exc.message}")

    async def aclose(self) -> None:
        await self._clients.aclose()
        self._unguard()


def _usage(usage: Any) -> dict[str, int] | None:
    if usage is None:
        return None
    found = {key: getattr(usage, key, None) for key in ("input_tokens", "output_tokens")}
    return {k: v for k, v in found.items() if isinstance(v, int)} or None
