"""The one-screen summary ``redheart batch`` ends with: counts, failures, score distributions."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .scores import ResultsRecords

SPARKS = "▁▂▃▄▅▆▇█"
#: failure kinds listed before "... and N more"
MAX_FAILURE_KINDS = 5


def sparkline(counts: list[int]) -> str:
    top = max(counts) or 1
    return "".join(" " if c == 0 else SPARKS[min(len(SPARKS) - 1, c * len(SPARKS) // (top + 1))]
                   for c in counts)


def print_batch_summary(records: ResultsRecords, *, new: int, skipped: int, inputs: int,
                        console: Console) -> None:
    """About a dozen lines: what this run did, what the file holds, what failed, the scores."""
    failed_records = len(records.failed)
    partial = len(records.with_stage_errors)
    console.print(f"[bold]{new}[/bold] new, {skipped} already done, {inputs} inputs; "
                  f"{records.path} holds {len(records.results)} results"
                  f" ({partial} with a failed stage) and {failed_records} errors"
                  + (f", {records.unreadable} unreadable lines" if records.unreadable else ""),
                  soft_wrap=True)
    kinds = records.failure_types()
    if kinds:
        shown = list(kinds.items())[:MAX_FAILURE_KINDS]
        more = len(kinds) - len(shown)
        console.print("[red]failures:[/red] " + "; ".join(f"{k} x{n}" for k, n in shown)
                      + (f"; ... and {more} more kinds" if more else ""))
    distributions = records.distributions()
    if not distributions:
        return
    table = Table(box=None, pad_edge=False, title_justify="left")
    for column, justify in (("score", "left"), ("n", "right"), ("min", "right"),
                            ("median", "right"), ("max", "right"), ("distribution", "left")):
        table.add_column(column, justify=justify, no_wrap=True)
    for label, dist in distributions.items():
        counts, _, _ = dist.histogram()
        table.add_row(label, str(dist.count), f"{min(dist.values):.3f}", f"{dist.quantile(0.5):.3f}",
                      f"{max(dist.values):.3f}", sparkline(counts))
    console.print(table)
