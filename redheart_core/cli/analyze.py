"""``redheart analyze``: one situation in, one analysis out."""

from __future__ import annotations

import sys

import click

from .options import EXIT_ERRORS, EXIT_OK, config_options, fail, handle_errors, load_cli_config


def read_text(text: str | None) -> str:
    if text is None or text == "-":
        if text is None and sys.stdin.isatty():
            fail("give the situation as an argument, or '-' to read it from standard input")
        text = sys.stdin.read()
    text = text.strip()
    if not text:
        fail("the text to analyze is empty")
    return text


@click.command()
@click.argument("text", required=False)
@config_options
@click.option("--json", "as_json", is_flag=True, help="Print the AnalysisResult as JSON.")
@handle_errors
def analyze(text, config_files, overrides, debug, as_json) -> None:
    """Analyze TEXT (or standard input with '-').

    Exit codes: 0 complete, 1 the result carries errors, 2 usage or config error.
    """
    cfg = load_cli_config(config_files, overrides)
    text = read_text(text)
    from ..pipeline import analyze as run_analysis

    result = run_analysis(text, config=cfg)
    if as_json:
        click.echo(result.to_json(indent=2))
    else:
        from .report import print_report

        print_report(result)
    sys.exit(EXIT_OK if result.ok else EXIT_ERRORS)
