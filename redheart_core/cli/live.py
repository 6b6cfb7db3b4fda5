"""``redheart analyze --stream``: watch one analysis happen.

The live view ticks stages off with their timings and lists each analyzer's output as it lands,
then prints the final summary as the model writes it. ``--json`` prints the same events as JSON
Lines instead, one event per line, flushed as it arrives.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from ..schema import AnalysisResult
from ..report.printable import printable

#: the field that best sums up a partial output, per value shape
_HEADLINES = ("final_ethical_score", "final_score", "primary", "anticipated", "mutual_information")


def headline(value: Any) -> str:
    """A few words for one partial output (``primary sadness``, ``final_score 0.42``)."""
    if not isinstance(value, dict):
        return ""
    for key in _HEADLINES:
        if key in value:
            v = value[key]
            return f"{key} {v:.3f}" if isinstance(v, float) else f"{key} {v}"
    if "stakeholders" in value:
        return f"{len(value['stakeholders'])} stakeholders, {len(value.get('scenarios', []))} scenarios"
    numbers = {k: v for k, v in value.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if numbers:
        top = max(numbers, key=numbers.get)
        return f"highest {top} {numbers[top]:.2f}"
    return ""


class JsonLinesView:
    """One JSON object per event, flushed at once (for pipes and ``jq``)."""

    def __init__(self, out: TextIO | None = None):
        self.out = out or sys.stdout

    def __enter__(self) -> "JsonLinesView":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def show(self, event: Any) -> None:
        self.out.write(json.dumps(event.to_dict(), ensure_ascii=False) + "\n")
        self.out.flush()


class LiveView:
    """Stages with a spinner while they run and their time once done; then the summary text."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console()
        self.rows: dict[str, list[Any]] = {}  # stage -> [status, duration_ms, error, partials]
        self.current: str | None = None
        self.live = Live(self._render(), console=self.console, refresh_per_second=10,
                         transient=False)
        self.writing = False
        self.wrote_newline = False

    def __enter__(self) -> "LiveView":
        self.live.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.stop()

    def _row(self, table: Table, stage: str) -> None:
        status, ms, error, partials = self.rows[stage]
        if status == "running":
            mark: Any = Text("…", style="cyan") if self.writing else Spinner("dots", style="cyan")
        else:
            mark = Text("✗" if error else "✓", style="red" if error else "green")
        timing = Text(f"{ms:8.1f} ms" if ms is not None else "", style="dim")
        table.add_row(mark, Text(stage, style="bold"), timing,
                      Text(printable(f"{error['type']}: {error['message']}") if error else "", style="red"))
        for key, text in partials:
            table.add_row(Text(""), Text(printable(f"  {key}"), style="cyan"), Text(""),
                          Text(printable(text), style="dim"))

    def _render(self, stages: Any = None) -> Table:
        table = Table.grid(padding=(0, 2))
        for stage in self.rows if stages is None else stages:
            self._row(table, stage)
        return table

    def show(self, event: Any) -> None:
        data = event.to_dict()
        kind = data["type"]
        if kind == "stage_started":
            self.current = data["stage"]
            self.rows[data["stage"]] = ["running", None, None, []]
        elif kind == "stage_finished":
            row = self.rows.setdefault(data["stage"], ["running", None, None, []])
            row[0], row[1], row[2] = "done", data["duration_ms"], data.get("error")
            if self.writing:  # the summary is on screen: the stage's line goes below it
                self.console.file.write("\n")
                self.console.print(self._render([data["stage"]]))
                self.wrote_newline = True
                return
        elif kind == "partial" and self.current is not None:
            self.rows[self.current][3].append((data["key"], headline(data["value"])))
        elif kind == "token":
            self._write(data["text"])
            return
        elif kind == "result":
            self._finish(event.result)
            return
        if not self.writing:
            self.live.update(self._render())

    def _write(self, text: str) -> None:
        if not self.writing:
            self.writing = True
            self.live.update(self._render())
            self.live.stop()
            self.console.print()
            self.console.print(Text("summary", style="bold underline"))
        self.console.file.write(printable(text))
        self.console.file.flush()

    def _finish(self, result: AnalysisResult) -> None:
        if not self.writing:
            self.live.update(self._render())
            self.live.stop()
        elif not self.wrote_newline:
            self.console.file.write("\n")
        lines = []
        if result.circuit is not None:
            lines.append(Text(f"final ethical score {result.circuit.final_ethical_score:.3f} "
                              f"(confidence {result.circuit.confidence:.2f})", style="bold"))
        for err in result.errors:
            lines.append(Text(printable(f"error in {err.stage}: {err.type}: {err.message}"), style="red"))
        total = result.timings_ms.get("total")
        lines.append(Text(printable(result.request_id) + (f" · {total:.0f} ms" if total is not None else ""),
                          style="dim"))
        self.console.print(Group(*lines))


async def stream_analysis(config: Any, text: str, *, as_json: bool) -> AnalysisResult:
    """Run one analysis through ``Pipeline.stream`` and show its events; returns the result."""
    from ..pipeline import Pipeline

    result: AnalysisResult | None = None
    view = JsonLinesView() if as_json else LiveView()
    async with Pipeline.from_config(config) as pipe:
        with view:
            async for event in pipe.stream(text):
                view.show(event)
                if event.type == "result":
                    result = event.result
    if result is None:
        raise RuntimeError("Pipeline.stream ended without a result event")
    return result
