"""``LLMBackendConformance``: the contract every LLM backend keeps, as pytest tests.

::

    from redheart_core.testing import LLMBackendConformance

    class TestMyBackend(LLMBackendConformance):
        plugin_name = "mine"
        options = {"base_url": "http://127.0.0.1:8765", "api_key": "test"}

Each check builds the backend from a config naming it and runs inside its own event loop
(``asyncio.run``), so the suite needs no pytest-asyncio configuration. A backend that talks to
a server should be pointed at a loopback stand-in (``redheart_plugins_openai.standin.OpenAIStandin`` and the like)
by overriding the class-scoped ``plugin_options`` fixture.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, ClassVar

import pytest

from ..errors import ConfigError, StageFailure
from ..llm.backend import LLMBackend, LLMRequest, LLMResponse, Message
from ..plugins import Registration
from ..runtime import Runtime
from ..schema import EMOTIONS, SCENARIO_TYPES, AnalysisResult, InitialAnalysis
from .analyzer_suite import SITUATIONS, UNICODE_SITUATION
from .plugin_suite import PluginConformance

Body = Callable[[LLMBackend], Awaitable[Any]]


class LLMBackendConformance(PluginConformance):
    """The LLM backend contract. Subclass as ``Test...`` and set ``plugin_name`` (and ``options``)."""

    kind: ClassVar[str] = "llm_backends"
    #: seconds any one call may take before the check fails
    timeout_s: ClassVar[float] = 60.0

    @classmethod
    def config_patch(cls, registration: Registration, plugin_options: dict[str, Any]) -> dict[str, Any]:
        return {"llm": {"backend": cls.plugin_name, "options": plugin_options}, "analyzers": []}

    @pytest.fixture
    def with_backend(self, runtime: Runtime, registration: Registration) -> Callable[[Body], Any]:
        """``with_backend(body)``: build a fresh backend, run ``await body(backend)`` in a new
        event loop, close the backend, and return what ``body`` returned."""

        def run(body: Body) -> Any:
            async def main() -> Any:
                try:
                    backend = runtime.build(registration, "llm.options")
                except ConfigError as exc:
                    pytest.fail(f"building {registration.label} failed: {exc}", pytrace=False)
                try:
                    return await asyncio.wait_for(body(backend), self.timeout_s)
                finally:
                    await backend.aclose()

            return asyncio.run(main())

        return run

    @staticmethod
    def request(text: str = "Say hello in one short sentence.") -> LLMRequest:
        return LLMRequest(system="You are a careful assistant.", messages=[Message("user", text)],
                          max_tokens=64, temperature=0.0)

    # ------------------------------------------------------------------ checks
    def test_factory_builds_an_llm_backend(self, with_backend, registration: Registration) -> None:
        async def body(backend: LLMBackend) -> None:
            assert isinstance(backend, LLMBackend), (
                f"the factory of {registration.label} returned {type(backend).__name__}; return "
                "an instance of a redheart_core.llm.LLMBackend subclass")
            assert backend.name == self.plugin_name, (
                f"backend.name is {backend.name!r}; leave `name` assignable so the runtime sets it")
            assert isinstance(backend.english_only, bool), "english_only must be True or False"
            assert backend.model is None or isinstance(backend.model, str), (
                f"backend.model must be the model id string or None, got {backend.model!r}")

        with_backend(body)

    def test_complete_returns_text(self, with_backend) -> None:
        async def body(backend: LLMBackend) -> LLMResponse:
            return await backend.complete(self.request())

        response = with_backend(body)
        assert isinstance(response, LLMResponse), (
            f"complete() returned a {type(response).__name__}; return "
            "redheart_core.llm.LLMResponse(text=..., model=..., usage=...)")
        assert isinstance(response.text, str) and response.text.strip(), (
            f"complete() returned the text {response.text!r}; return the model's reply as a "
            "non-empty string")
        assert response.usage is None or all(
            isinstance(k, str) and isinstance(v, int) for k, v in response.usage.items()), (
            f"LLMResponse.usage must map token kinds to integers, got {response.usage!r}")

    def test_stream_complete_yields_text_chunks(self, with_backend) -> None:
        async def body(backend: LLMBackend) -> list[Any]:
            return [chunk async for chunk in backend.stream_complete(self.request())]

        chunks = with_backend(body)
        assert chunks and all(isinstance(c, str) for c in chunks), (
            f"stream_complete() yielded {chunks!r}; yield the reply as string chunks")
        assert "".join(chunks).strip(), "stream_complete() yielded only empty text"

    def test_initial_reading_is_valid_or_a_typed_error(self, with_backend,
                                                       registration: Registration) -> None:
        self.check_initial_reading(with_backend, registration, SITUATIONS[0])

    def test_initial_reading_of_unicode_text(self, with_backend, registration: Registration) -> None:
        self.check_initial_reading(with_backend, registration, UNICODE_SITUATION)

    @staticmethod
    def check_initial_reading(with_backend, registration: Registration, text: str) -> None:
        reading = typed_outcome(with_backend, lambda backend: backend.analyze_initial(text),
                                "analyze_initial")
        if reading is not None:
            check_reading(reading, registration)

    def test_summary_is_a_string(self, with_backend) -> None:
        result = AnalysisResult(request_id="kit-0", text=SITUATIONS[0])
        summary = typed_outcome(with_backend, lambda backend: backend.summarize_final(result),
                                "summarize_final")
        if summary is not None:
            assert isinstance(summary, str) and summary.strip(), (
                f"summarize_final returned {summary!r}; return the summary text")

    def test_streamed_summary_is_text(self, with_backend) -> None:
        result = AnalysisResult(request_id="kit-0", text=SITUATIONS[1])

        async def body(backend: LLMBackend) -> list[Any]:
            return [chunk async for chunk in backend.stream_summary(result)]

        chunks = with_backend(body)
        assert all(isinstance(c, str) for c in chunks) and "".join(chunks).strip(), (
            f"stream_summary() yielded {chunks!r}; yield the summary as string chunks")

    def test_aclose_is_idempotent(self, runtime: Runtime, registration: Registration) -> None:
        async def main() -> None:
            backend = runtime.build(registration, "llm.options")
            await backend.complete(self.request())
            await backend.aclose()
            await backend.aclose()
            unused = runtime.build(registration, "llm.options")
            await unused.aclose()
            await unused.aclose()

        try:
            asyncio.run(main())
        except Exception as exc:
            pytest.fail(f"calling aclose() twice (or on a backend never used) raised "
                        f"{type(exc).__name__}: {exc}; make aclose() safe to repeat", pytrace=False)

    def test_cancellation_is_clean(self, with_backend) -> None:
        async def body(backend: LLMBackend) -> LLMResponse:
            before = asyncio.all_tasks()
            for delay in (0.0, 0.01):
                task = asyncio.create_task(backend.complete(self.request()))
                await asyncio.sleep(delay)
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
            await asyncio.sleep(0.05)
            leaked = [t for t in asyncio.all_tasks() - before if not t.done()]
            assert not leaked, (
                f"cancelling complete() left {len(leaked)} task(s) running ({leaked[:3]}); "
                "let CancelledError propagate and cancel helper tasks in a finally block")
            return await backend.complete(self.request())

        response = with_backend(body)
        assert isinstance(response, LLMResponse) and response.text.strip(), (
            "after a cancelled call the backend no longer answers; a cancelled request must not "
            "leave the client in a broken state")

    def test_concurrent_calls(self, with_backend) -> None:
        async def body(backend: LLMBackend) -> list[LLMResponse]:
            return await asyncio.gather(*(backend.complete(self.request(f"Say the number {i}."))
                                          for i in range(4)))

        responses = with_backend(body)
        assert len(responses) == 4 and all(isinstance(r, LLMResponse) and r.text.strip()
                                           for r in responses), (
            "four concurrent complete() calls did not all return text; the pipeline calls a "
            "backend from many requests at once, so keep no per-call state on the object")


def typed_outcome(with_backend: Callable[[Body], Any],
                  call: Callable[[LLMBackend], Awaitable[Any]], what: str) -> Any:
    """What ``call(backend)`` returns, or None when it raised a (well-formed) StageFailure:
    a backend may fail a request, but only with a typed error the pipeline can record."""
    __tracebackhide__ = True

    async def body(backend: LLMBackend) -> Any:
        try:
            return await call(backend)
        except StageFailure as exc:
            return exc

    outcome = with_backend(body)
    if isinstance(outcome, StageFailure):
        assert outcome.type_name and str(outcome), (
            f"{what} raised a StageFailure without a type name or message; raise "
            "LLMOutputError / LLMRequestError with a message saying what went wrong")
        return None
    return outcome


def check_reading(reading: Any, registration: Registration) -> None:
    """Fail with what to fix when ``reading`` is not a valid :class:`InitialAnalysis`."""
    __tracebackhide__ = True
    from ..llm.reading import ReadingError, validate_reading

    assert isinstance(reading, InitialAnalysis), (
        f"analyze_initial of {registration.label} returned a {type(reading).__name__}; return an "
        "InitialAnalysis or raise redheart_core.llm.errors.LLMOutputError")
    try:
        validate_reading(reading.to_dict())
    except ReadingError as exc:
        pytest.fail(f"the initial reading is not valid: {exc}", pytrace=False)
    assert set(reading.emotions) == set(EMOTIONS), (
        f"the reading's emotions have labels {sorted(reading.emotions)}; use exactly {EMOTIONS}")
    assert sorted(s.type for s in reading.scenarios) == sorted(SCENARIO_TYPES), (
        f"the reading needs one scenario of each type {SCENARIO_TYPES}")
