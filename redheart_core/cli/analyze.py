"""``redheart analyze``: one situation in, one analysis out — or a live stream, or a loop."""

from __future__ import annotations

import sys
from typing import Any

import click

from .options import EXIT_ERRORS, EXIT_OK, config_options, fail, handle_errors, load_cli_config


def read_text(text: str | None, limit: int) -> str:
    """The situation from the argument or standard input: UTF-8, at most ``limit`` characters."""
    from ..textinput import check_decoded, check_length, read_limited

    if text is None or text == "-":
        if text is None and sys.stdin.isatty():
            fail("give the situation as an argument, or '-' to read it from standard input")
        text = read_limited(sys.stdin.buffer, limit, "standard input")
    else:
        text = check_length(check_decoded(text, "the TEXT argument"), limit, "the TEXT argument")
    text = text.strip()
    if not text:
        fail("the text to analyze is empty")
    return text


def write_html(result: Any, path: str | None) -> None:
    """Write ``result``'s HTML report to ``path`` (when given) and say where, on stderr."""
    if not path:
        return
    from pathlib import Path

    from ..report.html import analysis_html

    try:
        Path(path).write_text(analysis_html(result), encoding="utf-8")
    except OSError as exc:
        fail(f"--html: cannot write {path}: {exc.strerror or exc}")
    click.echo(f"HTML report: {path}", err=True)


@click.command()
@click.argument("text", required=False)
@config_options
@click.option("--json", "as_json", is_flag=True,
              help="Print the AnalysisResult as JSON (with --stream: one JSON event per line).")
@click.option("--html", "html_path", default=None, type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write the analysis as a self-contained HTML report to FILE.")
@click.option("--stream", is_flag=True,
              help="Show stages as they finish and the summary as it is written.")
@click.option("--continuous", is_flag=True,
              help="Read one request per line from standard input (a JSON object "
                   '{"text", "priority", "request_id"} or plain text) and write one JSON result '
                   "per line, in input order, until end of input.")
@handle_errors
def analyze(text, config_files, overrides, debug, as_json, html_path, stream, continuous) -> None:
    """Analyze TEXT (or standard input with '-').

    Exit codes: 0 complete, 1 a result carries errors, 2 usage or config error.
    """
    if stream and continuous:
        fail("--stream and --continuous cannot be combined")
    if continuous and text is not None:
        fail("--continuous reads its requests from standard input; drop the TEXT argument")
    if continuous and html_path:
        fail("--html writes one analysis; with --continuous use `redheart report` on the results")
    cfg = load_cli_config(config_files, overrides)
    if continuous:
        import asyncio

        from ..service.continuous import run_continuous

        failed = asyncio.run(run_continuous(cfg, sys.stdin.buffer, sys.stdout))
        sys.exit(EXIT_OK if not failed else EXIT_ERRORS)
    text = read_text(text, int(cfg.server.max_chars))
    if stream:
        import asyncio

        from .live import stream_analysis

        result = asyncio.run(stream_analysis(cfg, text, as_json=as_json))
        write_html(result, html_path)
        sys.exit(EXIT_OK if result.ok else EXIT_ERRORS)
    from ..pipeline import analyze as run_analysis

    result = run_analysis(text, config=cfg)
    write_html(result, html_path)
    if as_json:
        click.echo(result.to_json(indent=2))
    else:
        from ..report.terminal import print_report

        print_report(result)
    sys.exit(EXIT_OK if result.ok else EXIT_ERRORS)
