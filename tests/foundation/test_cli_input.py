"""What the CLI takes in and writes out: UTF-8 only, within server.max_chars, never raw escapes."""

from __future__ import annotations

import io
import subprocess
import sys
import time

from rich.console import Console

from redheart_core.report.terminal import print_report
from redheart_core.schema import AnalysisResult, StageError

CLI = [sys.executable, "-m", "redheart_core", "analyze", "--set", "analyzers=[]"]


def test_ten_megabytes_on_standard_input_are_refused_at_once():
    started = time.perf_counter()
    proc = subprocess.run([*CLI, "-"], input=b"x" * 10_000_000, capture_output=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert time.perf_counter() - started < 30
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "server.max_chars" in lines[0] and "100000" in lines[0]


def test_a_text_argument_over_the_limit_is_refused():
    proc = subprocess.run([*CLI, "--set", "server.max_chars=10", "eleven chars"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "has 12 characters; the limit is 10" in proc.stderr


def test_non_utf8_on_standard_input_exits_2_naming_the_byte():
    proc = subprocess.run([*CLI, "-"], input="café au lait".encode("latin-1"), capture_output=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == ("error: standard input is not valid UTF-8 (byte 0xe9 at "
                                            "offset 3); convert it first, e.g. with iconv -t UTF-8")


def test_a_non_utf8_argument_exits_2():
    proc = subprocess.run([*CLI, "caf\xe9".encode("latin-1")], capture_output=True, timeout=120)
    assert proc.returncode == 2 and b"the TEXT argument is not valid UTF-8" in proc.stderr
    assert b"Traceback" not in proc.stderr


ESCAPES = "\x1b]0;owned\x07\x1b[2J\x1b[31mred\rover\u202eevil"


def test_the_report_never_writes_control_sequences_or_markup_from_the_result():
    result = AnalysisResult(request_id="r\x1b[5m", text=f"My situation {ESCAPES} [bold red]loud[/]")
    result.llm.summary = f"A summary {ESCAPES}"
    result.notes.append(f"note {ESCAPES}")
    result.errors.append(StageError(stage="llm_final", type="LLMOutputError", message=f"bad {ESCAPES}"))
    out = io.StringIO()
    print_report(result, Console(file=out, force_terminal=True, width=200, color_system="standard"))
    shown = out.getvalue()
    for raw in ("\x1b]0;owned", "\x07", "\x1b[2J", "\x1b[31mred", "\r", "\u202e", "\x1b[5m"):
        assert raw not in shown, f"{raw!r} reached the terminal"
    assert "\\x1b[2J" in shown and "\\u202e" in shown
    assert "[bold red]loud[/]" in shown, "rich markup in the text is shown, not applied"
