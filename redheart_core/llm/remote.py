"""What the HTTP API backends (Claude, OpenAI) share: key lookup, attempt counting, a
per-event-loop client with a concurrency limit, and keeping keys out of logs (the SDKs' loggers
are scrubbed while a call is in flight, :func:`redheart_core.secrets.guarding_sdk_logs`).

Retries are the SDKs' own (408/409/429/5xx, ``retry-after``); a backend never stacks a second
loop on top. To report them it counts HTTP attempts with an httpx request hook: each SDK call
runs in one task, so a contextvar ties the attempts to the call that made them.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import contextvars
import os
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, ClassVar, Iterator, Optional

from ..errors import ConfigError
from ..options import OptionError, check_positive, check_range
from ..secrets import guarding_sdk_logs, redact_text, register_secrets
from .backend import LLMBackend
from .errors import LLMOutputError, LLMRequestError

if TYPE_CHECKING:
    import httpx

_attempts: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("redheart_llm_attempts",
                                                                             default=None)


def resolve_api_key(option: str | None, env_var: str, backend: str, *, placeholder_hint: bool = False) -> str:
    """The key from ``llm.options.api_key`` or ``env_var``; a missing key fails before any work."""
    key = option or os.environ.get(env_var, "")
    if key.strip():
        return key.strip()
    hint = (" (a local OpenAI-compatible server that needs no key accepts any placeholder, "
            "e.g. llm.options.api_key=none)" if placeholder_hint else "")
    raise ConfigError("llm.options.api_key", f"the {backend} backend needs an API key: set {env_var} "
                      f"in the environment or llm.options.api_key{hint}")


async def count_attempt(request: "httpx.Request") -> None:
    """httpx request hook: one more HTTP attempt for the SDK call running in this context."""
    counter = _attempts.get()
    if counter is not None:
        counter[0] += 1


@contextlib.contextmanager
def attempts() -> Iterator[list[int]]:
    """Count the HTTP attempts made inside the block; ``counter[0] - 1`` are retries."""
    counter = [0]
    token = _attempts.set(counter)
    try:
        yield counter
    finally:
        _attempts.reset(token)


@contextlib.asynccontextmanager
async def call_slot(limit: asyncio.Semaphore) -> AsyncIterator[None]:
    """One of the backend's concurrent calls; while it is held the SDKs' loggers are scrubbed
    of secrets (the call, its retries and its stream all log inside it)."""
    async with limit:
        with guarding_sdk_logs():
            yield


class LoopBound:
    """One SDK client and one concurrency limit per event loop.

    An httpx connection pool belongs to the loop that opened it; the sync ``analyze()`` helper
    runs each call in a fresh loop, so a client is made for each loop that uses the backend.
    """

    def __init__(self, make_client: Callable[[], Any], max_concurrency: int):
        self._make = make_client
        self._max = max_concurrency
        self._by_loop: dict[int, tuple[asyncio.AbstractEventLoop, Any, asyncio.Semaphore]] = {}

    def get(self) -> tuple[Any, AbstractAsyncContextManager[None]]:
        """This loop's client, and a slot (:func:`call_slot`) to hold around one call with it."""
        loop = asyncio.get_running_loop()
        for key, (old, _, _) in list(self._by_loop.items()):
            if old.is_closed():  # its connections died with it
                del self._by_loop[key]
        entry = self._by_loop.get(id(loop))
        if entry is None or entry[0] is not loop:
            entry = (loop, self._make(), asyncio.Semaphore(self._max))
            self._by_loop[id(loop)] = entry
        return entry[1], call_slot(entry[2])

    async def aclose(self) -> None:
        """Close the current loop's client; clients of loops already closed are dropped."""
        entries, self._by_loop = list(self._by_loop.values()), {}
        current = asyncio.get_running_loop()
        for loop, client, _ in entries:
            if loop is current:
                await client.close()


@dataclass
class RemoteOptions:
    """Options every HTTP API backend takes; a plugin subclasses it to set ``model``'s default
    and add its own."""

    model: str = ""
    #: caps each call's output tokens; None: the reading's own budget (2048 reading, 1024 summary)
    max_tokens: Optional[int] = None
    #: None: the backend's default (see its docs)
    temperature: Optional[float] = None
    #: per HTTP attempt
    timeout_s: float = 60.0
    #: the SDK's own retries on 408/409/429/5xx, honouring retry-after
    max_retries: int = 2
    base_url: Optional[str] = None
    #: default: the backend's environment variable (ANTHROPIC_API_KEY, OPENAI_API_KEY)
    api_key: Optional[str] = None
    #: calls in flight at once from this process
    max_concurrency: int = 8

    def __post_init__(self) -> None:
        check_range(self, "max_concurrency", 1)
        check_range(self, "max_retries", 0)
        check_positive(self, "timeout_s")
        if not self.model:
            raise OptionError("model", "must name a model")


class RemoteBackend(LLMBackend):
    """Shared set-up of the API backends: checked options, the key (registered as a secret), one SDK
    client per event loop behind a concurrency limit, and error messages without secrets.

    A subclass sets ``vendor``, ``env_var`` and ``api_name`` and implements ``_make_client``,
    ``complete`` and ``stream_complete``.
    """

    vendor: ClassVar[str] = "?"
    env_var: ClassVar[str] = "?"
    api_name: ClassVar[str] = "the API"
    #: whether a key placeholder is worth suggesting (servers that need no key)
    placeholder_hint: ClassVar[bool] = False

    def __init__(self, options: RemoteOptions):
        self.options = options
        self.model = options.model
        self._key = resolve_api_key(options.api_key, self.env_var, self.vendor,
                                    placeholder_hint=self.placeholder_hint)
        register_secrets(self._key)
        self._clients = LoopBound(self._make_client, options.max_concurrency)

    @abc.abstractmethod
    def _make_client(self) -> Any:
        """A new SDK client (called once per event loop), with ``count_attempt`` as an httpx
        request hook so retries are counted."""

    def _max_tokens(self, requested: int) -> int:
        return min(requested, self.options.max_tokens) if self.options.max_tokens else requested

    def request_error(self, exc: Exception, attempt_count: int, *, timeout: bool = False,
                      connection: bool = False) -> LLMRequestError:
        """An :class:`LLMRequestError` naming the backend, where, the status and the retries."""
        return LLMRequestError(redact_text(self._error_text(exc, attempt_count, timeout, connection)))

    def stream_broken(self, why: str) -> LLMRequestError:
        """An :class:`LLMRequestError` for a stream that stopped before the model finished (the
        server died, the connection dropped): the text so far is not the whole answer."""
        where = self.options.base_url or self.api_name
        return LLMRequestError(redact_text(f"{self.vendor}: the stream from {where} broke off "
                                           f"before the model finished: {why}"))

    def stream_unreadable(self, why: str) -> LLMOutputError:
        """An :class:`LLMOutputError` for a stream that carried nothing a completion is made
        of (the server answered, but not with an event stream of this API)."""
        where = self.options.base_url or self.api_name
        return LLMOutputError(redact_text(f"{self.vendor}: the stream from {where} held no "
                                          f"completion: {why}"))

    def _error_text(self, exc: Exception, attempt_count: int, timeout: bool, connection: bool) -> str:
        where = self.options.base_url or self.api_name
        retries = f" after {attempt_count - 1} retries" if attempt_count > 1 else ""
        if timeout:
            return f"{self.vendor}: no answer from {where} within {self.options.timeout_s}s{retries}"
        if connection:
            return f"{self.vendor}: could not connect to {where}{retries}"
        status = getattr(exc, "status_code", None)
        body = getattr(exc, "body", None)
        error = body.get("error", body) if isinstance(body, dict) else None
        detail = error.get("message") if isinstance(error, dict) else None
        detail = detail or getattr(exc, "message", None) or type(exc).__name__
        if status == 401:
            return f"{self.vendor}: {where} rejected the key (HTTP 401); check {self.env_var}"
        if status is None:
            return f"{self.vendor}: {type(exc).__name__}: {detail}"
        return f"{self.vendor}: HTTP {status} from {where}{retries}: {detail}"

    async def aclose(self) -> None:
        await self._clients.aclose()
