"""The ASGI app: the HTTP API over one shared pipeline.

Error mapping (never a traceback to the client, always the ``{"error": {...}}`` envelope, always
counted in ``/metrics``): malformed JSON 400, an unknown path 404, a wrong method 405, a text
longer than ``server.max_chars`` or a batch over ``server.max_batch`` 413, a body that does not
match the schema 422, a full queue 503 with ``Retry-After``, work cut off at shutdown 503; the
refusals of :mod:`.guard` (host, key, body) come before any of these. A failing stage is a 200
whose result carries ``errors[]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, TypeVar

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from omegaconf import DictConfig
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..errors import ConfigError
from ..pipeline.queue import QueueFull
from ..runtime import Runtime
from ..schema import AnalysisResult
from .errors import ServiceError, error_body, rejected_result
from .events import EventStreamResponse, encode_sse, encode_sse_error
from .guard import CALLER, Guard, GuardSettings
from .metrics import CONTENT_TYPE, ServiceMetrics
from .payloads import REQUEST_ID_PATTERN, AnalyzeRequest, BatchRequest

if TYPE_CHECKING:
    from ..pipeline import Pipeline
    from ..pipeline.events import Event
    from ..pipeline.stream import EventStream

log = logging.getLogger("redheart.service")
T = TypeVar("T")

QUEUE_FULL = QueueFull.__name__


@dataclass
class Service:
    """What the routes share: the config, the pipeline (once started), the metrics."""

    config: DictConfig
    pipeline: "Pipeline | None" = None
    ready: bool = False
    stopping: bool = False
    startup_error: BaseException | None = None
    metrics: ServiceMetrics = field(init=False)
    #: set when the shutdown deadline passed: work still running is answered 503 and ended
    cut_off: asyncio.Event = field(init=False, default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.metrics = ServiceMetrics(lambda: self.pipeline)

    def begin_shutdown(self, deadline_s: float) -> None:
        """Shutdown started: requests still running after ``deadline_s`` seconds are cut off
        with a clean 503 (streams with a final ``error`` event) instead of being cancelled
        under the server's feet."""
        self.stopping = True
        asyncio.get_running_loop().call_later(deadline_s, self.cut_off.set)

    def cut_off_error(self) -> ServiceError:
        return ServiceError(503, "shutdown", "ShuttingDown", "the server is shutting down and this "
                            "request did not finish within server.shutdown_timeout_s; retry it "
                            "against a running server", headers={"Retry-After": "1"})

    def check_batch(self, texts: list[str]) -> None:
        limit = int(self.config.server.max_batch)
        if len(texts) > limit:
            raise ServiceError(413, "too_large", "BatchTooLarge", f"the batch has {len(texts)} "
                               f"texts; the limit is {limit} (server.max_batch)")

    def running_pipeline(self) -> "Pipeline":
        if self.pipeline is None:
            raise ServiceError(503, "not_ready", "NotReady", "the pipeline is not running "
                               "(starting up or shutting down); retry shortly",
                               headers={"Retry-After": "1"})
        return self.pipeline

    def check_size(self, *texts: str) -> None:
        limit = self.config.server.max_chars
        for i, text in enumerate(texts):
            if len(text) > limit:
                where = f"texts[{i}]" if len(texts) > 1 else "text"
                raise ServiceError(413, "too_large", "PayloadTooLarge",
                                   f"{where} has {len(text)} characters; the limit is {limit} "
                                   "(server.max_chars)")

    def queue_full(self, request_id: str | None) -> ServiceError:
        retry_after = max(1, math.ceil(self.metrics.mean_request_seconds()))
        return ServiceError(503, "queue_full", QUEUE_FULL, "the pipeline queue is full "
                            f"(pipeline.max_queue); retry after {retry_after} s",
                            headers={"Retry-After": str(retry_after),
                                     **({"X-Request-ID": request_id} if request_id else {})})


def service(request: Request) -> Service:
    return request.app.state.service


async def first_of(work: Awaitable[T], *interrupts: Awaitable[Any]) -> "asyncio.Future[T]":
    """Run ``work`` until it or any of ``interrupts`` is done, then cancel whatever is still
    running; returns ``work``'s task (cancelled when an interrupt came first)."""
    task = asyncio.ensure_future(work)
    others = [asyncio.ensure_future(interrupt) for interrupt in interrupts]
    try:
        await asyncio.wait({task, *others}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for other in others:
            other.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return task


async def until_disconnected(request: Request, work: Awaitable[T]) -> tuple[bool, T | None]:
    """Await ``work``, cancelling it if the client goes away first, or if the shutdown deadline
    passes first (then :class:`ServiceError` 503 ``ShuttingDown``).

    Returns ``(True, result)``, or ``(False, None)`` when the client left.
    """
    svc = service(request)
    task = await first_of(work, _disconnected(request), svc.cut_off.wait())
    if task.cancelled():
        if svc.cut_off.is_set():
            raise svc.cut_off_error()
        return False, None
    return True, task.result()


def caller(request: Request) -> str:
    """The authenticated caller's name: its experience namespace ("" without API keys)."""
    return str(request.scope.get("state", {}).get(CALLER, ""))


async def _disconnected(request: Request) -> None:
    with contextlib.suppress(Exception):  # a receive channel that fails is a gone client too
        while (await request.receive())["type"] != "http.disconnect":
            pass


def request_id_of(body: AnalyzeRequest, request: Request) -> str:
    """The body's ``request_id``, else a valid ``X-Request-ID`` header, else a new id."""
    header = request.headers.get("x-request-id")
    if body.request_id:
        return body.request_id
    if header is not None and re.fullmatch(REQUEST_ID_PATTERN, header):
        return header
    return uuid.uuid4().hex


# ------------------------------------------------------------------ routes

router = APIRouter()

ERRORS = {
    400: {"description": "Malformed JSON, a body that is not UTF-8, or a foreign Host header"},
    401: {"description": "No valid API key (when server.api_keys is set)"},
    408: {"description": "The body did not arrive within server.body_timeout_s"},
    413: {"description": "A body over server.max_body_bytes, a text over server.max_chars or a "
                         "batch over server.max_batch"},
    415: {"description": "The body is not sent as application/json"},
    422: {"description": "The body does not match the schema"},
    503: {"description": "Queue full, pipeline not running, or shutting down; see Retry-After"},
}


async def analyzed(svc: Service, body: AnalyzeRequest, request: Request) -> AnalysisResult | None:
    """One analysis for a route, counted in the metrics; None when the client left first."""
    svc.check_size(body.text)
    pipe = svc.running_pipeline()
    try:
        done, result = await until_disconnected(request, pipe.analyze(
            body.text, priority=body.priority, request_id=request_id_of(body, request),
            namespace=caller(request)))
    except QueueFull as exc:
        raise svc.queue_full(exc.request_id) from None
    if not done:
        svc.metrics.count("cancelled")
        return None
    svc.metrics.observe(result)
    return result


@router.post("/v1/analyze", response_model=AnalysisResult, responses=ERRORS, tags=["analysis"])
async def analyze(body: AnalyzeRequest, request: Request, svc: Service = Depends(service)) -> Response:
    """Analyze one situation. A stage failure still answers 200, with ``errors[]``."""
    result = await analyzed(svc, body, request)
    if result is None:
        return Response(status_code=499)
    return JSONResponse(result.to_dict(), headers={"X-Request-ID": result.request_id})


@router.post("/v1/report", responses={**ERRORS, 200: {"content": {"text/html": {}},
                                                        "description": "The HTML report"}},
             response_class=HTMLResponse, tags=["analysis"])
async def report(body: AnalyzeRequest, request: Request, svc: Service = Depends(service)) -> Response:
    """Analyze one situation and answer with its HTML report: the page `redheart analyze
    --html` writes (self-contained: inline CSS, static SVG, nothing fetched)."""
    from ..report.html import analysis_html

    result = await analyzed(svc, body, request)
    if result is None:
        return Response(status_code=499)
    return HTMLResponse(analysis_html(result), headers={"X-Request-ID": result.request_id})


@router.post("/v1/analyze/batch", responses=ERRORS, tags=["analysis"])
async def analyze_batch(body: BatchRequest, request: Request, svc: Service = Depends(service)) -> Response:
    """Analyze several situations (at most ``server.max_batch``); ``{"results": [...]}`` in
    the same order. Items the queue rejected carry a ``QueueFull`` error; when every item was
    rejected the answer is 503. A batch takes turns with other callers' requests."""
    svc.check_batch(body.texts)
    svc.check_size(*body.texts)
    pipe = svc.running_pipeline()
    done, outcomes = await until_disconnected(request, pipe.analyze_each(
        list(body.texts), namespace=caller(request)))
    if not done:
        svc.metrics.count("cancelled", len(body.texts))
        return Response(status_code=499)
    refused = [o for o in outcomes if isinstance(o, QueueFull)]
    if len(refused) == len(outcomes):
        svc.metrics.count("queue_full", len(outcomes) - 1)
        raise svc.queue_full(None)
    svc.metrics.count("queue_full", len(refused))
    items = []
    for text, outcome in zip(body.texts, outcomes):
        if isinstance(outcome, QueueFull):
            items.append(rejected_result(text, outcome).to_dict())
        else:
            svc.metrics.observe(outcome)
            items.append(outcome.to_dict())
    return JSONResponse({"results": items})


@router.post("/v1/analyze/stream", responses={
    **ERRORS, 200: {"description": "Server-sent events: stage_started, stage_finished, partial, "
                    "token, then one result", "content": {"text/event-stream": {}}}},
    response_class=EventStreamResponse, tags=["analysis"])
async def analyze_stream(body: AnalyzeRequest, request: Request,
                         svc: Service = Depends(service)) -> Response:
    """Stream one analysis as server-sent events (``event:`` is the event type, ``data:`` its
    JSON). Closing the connection cancels the request."""
    svc.check_size(body.text)
    pipe = svc.running_pipeline()
    request_id = request_id_of(body, request)
    events = pipe.stream(body.text, priority=body.priority, request_id=request_id,
                         namespace=caller(request))
    try:
        done, first = await until_disconnected(request, anext(events, None))
    except ServiceError:
        await events.aclose()
        raise
    except QueueFull:
        await events.aclose()
        raise svc.queue_full(request_id) from None
    if not done or first is None:
        await events.aclose()
        svc.metrics.count("cancelled")
        return Response(status_code=499)
    return EventStreamResponse(_sse(svc, events, first), headers={"X-Request-ID": request_id})


async def _sse(svc: Service, events: "EventStream", event: "Event | None") -> AsyncIterator[bytes]:
    """Frames for ``event`` and the rest of ``events``; closing it (the client left) closes the
    pipeline stream, which cancels the request. Past the shutdown deadline the stream ends with
    an ``error`` event."""
    outcome = "cancelled"
    try:
        n = 0
        while event is not None:
            n += 1
            if event.type == "result":
                outcome = "result"
                svc.metrics.observe(event.result)
            yield encode_sse(n, event)
            event = await _next_or_cut_off(svc, events)
            if event is _CUT_OFF:
                outcome = "shutdown"
                error = svc.cut_off_error()
                yield encode_sse_error(n + 1, error.type_name, str(error))
                return
    finally:
        # counted before the close, so a scrape that sees the request gone also sees its outcome
        if outcome != "result":
            svc.metrics.count(outcome)
        with anyio.CancelScope(shield=True):
            await events.aclose()


_CUT_OFF = object()


async def _next_or_cut_off(svc: Service, events: "EventStream") -> "Event | object | None":
    """The next pipeline event, or :data:`_CUT_OFF` once the shutdown deadline has passed."""
    step = await first_of(anext(events, None), svc.cut_off.wait())
    return _CUT_OFF if step.cancelled() else step.result()


@router.get("/healthz", tags=["operations"])
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", tags=["operations"], responses={503: {"description": "Not ready"}})
async def readyz(svc: Service = Depends(service)) -> JSONResponse:
    """Readiness: the pipeline runs and its models are loaded."""
    if svc.ready and svc.pipeline is not None:
        runtime = svc.pipeline.runtime
        return JSONResponse({"status": "ready", "llm": runtime.config.llm.backend,
                             "analyzers": list(runtime.analyzer_names)})
    if svc.startup_error is not None:
        return JSONResponse({"status": "failed", "error": str(svc.startup_error)}, 503)
    return JSONResponse({"status": "stopping" if svc.stopping else "starting"}, 503)


@router.get("/v1/plugins", tags=["operations"])
async def plugins(svc: Service = Depends(service)) -> list[dict[str, Any]]:
    """The installed plugins: what each registers, its version and load status."""
    from ..plugins import get_registry

    return [info.to_dict() for info in get_registry(svc.config.plugins.disabled).plugin_infos()]


@router.get("/metrics", tags=["operations"], response_class=Response,
            responses={200: {"content": {CONTENT_TYPE: {}}}})
async def metrics(svc: Service = Depends(service)) -> Response:
    """Prometheus metrics (text exposition format)."""
    return Response(svc.metrics.render(), media_type=CONTENT_TYPE)


# ------------------------------------------------------------------ errors


async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
    service(request).metrics.count(exc.status)
    return JSONResponse(error_body(exc.type_name, str(exc)), exc.status_code, headers=exc.headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    malformed = next((e for e in errors if e.get("type") == "json_invalid"), None)
    svc = service(request)
    if malformed is not None:
        svc.metrics.count("bad_request")
        reason = (malformed.get("ctx") or {}).get("error", "JSON decode error")
        position = malformed.get("loc", ("body", "?"))[-1]
        return JSONResponse(error_body("MalformedJSON", f"the body is not valid JSON: {reason} "
                                       f"(at character {position})"), 400)
    svc.metrics.count("invalid")
    details = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""),
                "type": e.get("type", "")} for e in errors]
    summary = "; ".join(f"{'.'.join(d['loc'][1:]) or 'body'}: {d['msg']}" for d in details)
    return JSONResponse(error_body("ValidationError", summary, details=details), 422)


#: HTTP errors raised by the router or by FastAPI's body parsing: status, type name
HTTP_ERRORS = {404: ("not_found", "NotFound"), 405: ("method_not_allowed", "MethodNotAllowed")}


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """404, 405 and a body FastAPI could not parse, in the envelope like every other error."""
    status, type_name = HTTP_ERRORS.get(exc.status_code, ("bad_request", "BadRequest"))
    message = str(exc.detail)
    if exc.status_code == 404:
        message = f"no endpoint {request.url.path}; see /docs for the API"
    elif exc.status_code == 405:
        message = (f"{request.method} is not allowed on {request.url.path}; use "
                   f"{(exc.headers or {}).get('Allow', 'another method')}")
    elif exc.status_code == 400:
        type_name, message = _unparsable(exc.__cause__)
    elif exc.status_code >= 500:
        status = "error"
    service(request).metrics.count(status)
    return JSONResponse(error_body(type_name, message), exc.status_code, headers=exc.headers)


def _unparsable(cause: BaseException | None) -> tuple[str, str]:
    if isinstance(cause, RecursionError):
        return "MalformedJSON", "the body nests too deeply to be read as JSON"
    if isinstance(cause, UnicodeDecodeError):
        return "InvalidEncoding", (f"the body is not valid UTF-8 (byte 0x{cause.object[cause.start]:02x} "
                                   f"at offset {cause.start})")
    return "MalformedJSON", "the body could not be read as JSON"


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    service(request).metrics.count("error")
    log.error("unexpected error answering %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("InternalError", "the server failed to answer; the error is in "
                                   "its log"), 500)


# ------------------------------------------------------------------ access log


class AccessLog:
    """Logs one line per HTTP request: method, path, status, duration and request id."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        seen: dict[str, Any] = {"status": None, "request_id": None}

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                headers = dict(message.get("headers", ()))
                rid = headers.get(b"x-request-id")
                seen["request_id"] = rid.decode() if rid else None
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            duration_ms = round((time.perf_counter() - start) * 1000, 1)
            log.info("%s %s %s %.1f ms", scope["method"], scope["path"], seen["status"], duration_ms,
                     extra={"event": "http_request", "method": scope["method"],
                            "path": scope["path"], "status": seen["status"],
                            "duration_ms": duration_ms, "request_id": seen["request_id"]})


# ------------------------------------------------------------------ the app


def create_app(config: DictConfig, *, pipeline: "Pipeline | None" = None) -> FastAPI:
    """The app over ``pipeline``; without one, the app starts and closes its own from
    ``config`` in its lifespan (models load in the background; ``/readyz`` says when done)."""
    check_exposure(config)
    svc = Service(config, pipeline=pipeline, ready=pipeline is not None)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if pipeline is not None:  # the caller runs and closes it
            yield
            svc.ready, svc.stopping = False, True
            return
        async with contextlib.AsyncExitStack() as stack:
            from ..pipeline import Pipeline

            try:
                svc.pipeline = await stack.enter_async_context(Pipeline.from_config(config))
            except BaseException as exc:
                svc.startup_error = exc
                raise
            warm = asyncio.create_task(_warm_up(svc), name="redheart-warm-up")
            log.info("pipeline started", extra={"event": "pipeline_started"})
            try:
                yield
            finally:
                warm.cancel()
                svc.ready, svc.stopping = False, True
                await asyncio.gather(warm, return_exceptions=True)
                log.info("closing the pipeline", extra={"event": "pipeline_closing"})
        svc.pipeline = None
        log.info("pipeline closed", extra={"event": "pipeline_closed"})

    app = FastAPI(title="redheart", version=__version__, lifespan=lifespan,
                  description="Ethical and emotional decision analysis over one shared pipeline.")
    app.state.service = svc
    app.include_router(router)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(Guard, settings=GuardSettings.from_config(config.server), metrics=svc.metrics)
    app.add_middleware(AccessLog)
    return app


def check_exposure(config: DictConfig) -> None:
    """Refuse a service that would show one caller another's text: stored text in matches
    (``experience.match_text``) needs a namespace per caller, which only API keys give."""
    if config.experience.match_text and not len(config.server.api_keys):
        raise ConfigError("experience.match_text", "would show every caller of the service the "
                          "others' texts; set server.api_keys so each caller gets its own "
                          "namespace, or leave match_text off")


def load_models(runtime: Runtime) -> None:
    """Build the analyzers and encode one text, so the first request pays no loading time
    (without analyzers the pipeline loads no encoder, and neither does this)."""
    if runtime.analyzers:
        runtime.embedder.encode(["warm-up"])


async def _warm_up(svc: Service) -> None:
    """Load every model off the event loop, then report ready."""
    try:
        await asyncio.to_thread(load_models, svc.pipeline.runtime)
    except Exception as exc:
        svc.startup_error = exc
        log.error("warm-up failed: %s", exc, extra={"event": "warm_up_failed"})
        return
    svc.ready = True
    log.info("ready", extra={"event": "ready"})
