"""``redheart report``: a results file from ``redheart batch`` as a self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

import click

from .options import fail, handle_errors


@click.command()
@click.argument("results_path", metavar="RESULTS.jsonl", type=click.Path(dir_okay=False))
@click.option("--html", "html_path", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="Where to write the report.")
@click.option("--per-end", type=click.IntRange(min=1), default=3, show_default=True,
              help="Records listed at each end (worst, best) of every score.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@handle_errors
def report(results_path, html_path, per_end, debug) -> None:
    """Write an HTML report of RESULTS.jsonl to --html FILE: the score distributions, the
    failures, and the records worst and best on each score.

    The page is self-contained (inline CSS, static SVG, nothing fetched). Exit codes: 0 written,
    2 a missing or unreadable file.
    """
    from ..report.html import batch_html
    from ..report.scores import read_results

    records = read_results(results_path)
    try:
        Path(html_path).write_text(batch_html(records, per_end=per_end), encoding="utf-8")
    except OSError as exc:
        fail(f"--html: cannot write {html_path}: {exc.strerror or exc}")
    click.echo(f"HTML report of {len(records.results)} results and {len(records.failed)} errors: "
               f"{html_path}", err=True)
