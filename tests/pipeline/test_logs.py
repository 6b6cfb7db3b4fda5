"""Structured logs: one JSON object per line with the request's fields; secrets never written."""

from __future__ import annotations

import io
import json
import logging

import pytest

from redheart_core.config import load_config
from redheart_core.logs import configure_logging
from redheart_core.pipeline import Pipeline
from redheart_core.secrets import redact_text, register_secrets

SECRET = "sk-ant-test-0123456789abcdef"


@pytest.fixture
def log_stream():
    stream = io.StringIO()
    yield stream
    logger = logging.getLogger("redheart")
    for handler in [h for h in logger.handlers if h.get_name() == "redheart"]:
        logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


async def test_json_logs_give_one_record_per_stage_with_its_fields(plugin, make_config, log_stream):
    cfg = make_config("logging.format=json", "pipeline.retries=0", fail_summary=1)
    configure_logging(cfg.logging, stream=log_stream)
    async with Pipeline.from_config(cfg) as pipe:
        await pipe.analyze("A situation.", request_id="log-1")
    records = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    stages = [r for r in records if r.get("event") == "stage_finished"]
    assert [r["stage"] for r in stages] == ["prepare", "llm_initial", "red_heart", "circuit", "llm_final"]
    for record in stages:
        assert record["request_id"] == "log-1" and record["duration_ms"] >= 0
        assert record["logger"] == "redheart.pipeline"
    # a failed stage is a warning, the others are progress
    assert [r["level"] for r in stages] == ["INFO"] * 4 + ["WARNING"]
    assert stages[-1]["error"].startswith("ScriptedFailure: scripted failure 1 of 1")
    assert "error" not in stages[0]
    finished = [r for r in records if r.get("event") == "request_finished"]
    assert finished[0]["status"] == "failed"


async def test_secrets_never_reach_the_logs_or_the_result(plugin, make_config, log_stream):
    cfg = make_config("logging.format=json", "pipeline.retries=0", api_key=SECRET,
                      leak_key_in_error="true", fail_initial=1)
    configure_logging(cfg.logging, stream=log_stream)
    logging.getLogger("redheart.test").warning("calling with %s", SECRET)
    async with Pipeline.from_config(cfg) as pipe:
        result = await pipe.analyze("A situation.")
    text = log_stream.getvalue()
    assert SECRET not in text and "***" in text
    assert "scripted failure" in text
    assert SECRET not in result.to_json() and "***" in result.errors[0].message


def test_text_logs_carry_the_fields_after_the_message(log_stream):
    configure_logging(load_config(validate=False).logging, stream=log_stream)
    logging.getLogger("redheart.pipeline").info(
        "request r stage prepare finished", extra={"event": "stage_finished", "request_id": "r",
                                                   "stage": "prepare", "duration_ms": 1.5})
    line = log_stream.getvalue().strip()
    assert line.endswith("request r stage prepare finished [request_id=r stage=prepare duration_ms=1.5]")


def test_key_shaped_strings_are_redacted_even_when_unregistered():
    assert redact_text("Authorization: Bearer abcdefghijklmnop") == "Authorization: Bearer ***"
    assert redact_text("key sk-proj-ABCDEFGH12345678 failed") == "key *** failed"
    register_secrets(["correct-horse-battery"])
    assert redact_text("pw correct-horse-battery!") == "pw ***!"
