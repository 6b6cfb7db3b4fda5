"""``redheart analyze --continuous``: a line in, a JSON line out, in order, until EOF."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from redheart_core.cli import cli

from .conftest import REPO

SMALL = ["--set", "llm.backend=svc-slow", "--set", "analyzers=[svc-failing]"]


def run_continuous(lines: list[str], *args: str):
    return CliRunner().invoke(cli, ["analyze", "--continuous", *SMALL, *args],
                              input="".join(line + "\n" for line in lines))


def test_several_lines_answered_in_input_order_while_running_concurrently():
    lines = [
        '{"text": "The first takes longest [slow:0.1]", "request_id": "one"}',
        "a plain text line is a request too",
        "",
        '{"text": "third, with a priority", "priority": 5}',
        '{"text": "   ", "request_id": "blank"}',
        '{"text": 42}',
        "{not json at all",
        "last line [slow:0.01]",
    ]
    result = run_continuous(lines)
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 7, "one result per non-blank line"
    assert [r["text"] for r in out[:3]] == ["The first takes longest [slow:0.1]",
                                            "a plain text line is a request too", "third, with a priority"]
    assert out[0]["request_id"] == "one"
    assert all(r["errors"] == [] and r["llm"]["summary"] for r in out[:3])
    assert out[3]["errors"][0]["stage"] == "input" and out[3]["request_id"] == "line-4"
    assert out[4]["errors"][0]["type"] == "InvalidRequest" and "text" in out[4]["errors"][0]["message"]
    assert out[5]["errors"][0]["stage"] == "input" and out[5]["request_id"] == "line-6"
    assert out[6]["text"] == "last line [slow:0.01]" and out[6]["errors"] == []
    assert result.exit_code == 1, "some lines were invalid"


def test_all_good_lines_exit_0_and_empty_input_prints_nothing():
    assert run_continuous(["one", "two"]).exit_code == 0
    empty = run_continuous([])
    assert empty.exit_code == 0 and empty.stdout == ""


def test_continuous_refuses_a_text_argument_and_stream():
    with_text = CliRunner().invoke(cli, ["analyze", "--continuous", "hello"])
    assert with_text.exit_code == 2 and "standard input" in with_text.output
    both = CliRunner().invoke(cli, ["analyze", "--continuous", "--stream"])
    assert both.exit_code == 2 and "cannot be combined" in both.output


def test_continuous_over_a_real_pipe_writes_each_result_as_it_is_ready():
    proc = subprocess.Popen([sys.executable, "-m", "redheart_core", "analyze", "--continuous",
                             "--set", "analyzers=[]"], cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdin.write("first situation\n")
    proc.stdin.flush()
    first = json.loads(proc.stdout.readline())  # answered before the input ends
    assert first["text"] == "first situation"
    proc.stdin.write('{"text": "second", "request_id": "r2"}\n')
    proc.stdin.close()
    rest = [json.loads(line) for line in proc.stdout]
    assert proc.wait(60) == 0, proc.stderr.read()
    assert [r["request_id"] for r in rest] == ["r2"]


def test_a_line_that_is_not_utf8_or_too_long_gets_an_input_error_and_output_stays_utf8():
    data = ("first fine line\n".encode() + "caf\xe9 au lait\n".encode("latin-1")
            + b"y" * 5000 + b"\n" + '{"text": "' .encode() + b"z" * 40 + b'"}\n' + b"last fine line\n")
    result = CliRunner().invoke(cli, ["analyze", "--continuous", *SMALL, "--set", "server.max_chars=20"],
                                input=data)
    out = [json.loads(line) for line in result.stdout_bytes.decode("utf-8").splitlines()]
    assert [r["errors"] == [] for r in out] == [True, False, False, False, True]
    assert "not valid UTF-8 (byte 0xe9 at offset 3)" in out[1]["errors"][0]["message"]
    assert out[1]["text"] == "caf\ufffd au lait"
    assert "longer than" in out[2]["errors"][0]["message"] and len(out[2]["text"]) <= 201
    assert "the limit is 20 (server.max_chars)" in out[3]["errors"][0]["message"]
    assert {r["errors"][0]["type"] for r in out[1:4]} == {"InvalidRequest"}
    assert result.exit_code == 1
