"""The ``redheart`` command. Subcommands are imported only when run, so ``--help`` stays fast."""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__

#: subcommand -> "module:attribute", relative to this package
COMMANDS: dict[str, str] = {
    "analyze": "analyze:analyze",
    "plugins": "plugins:plugins",
    "config": "config:config",
    "train": "train:train",
    "batch": "batch:batch",
    "surd": "surd:surd",
    "report": "report:report",
    "serve": "serve:serve",
    "memory": "memory:memory",
    "doctor": "doctor:doctor",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="redheart")
def cli() -> None:
    """redheart: ethical and emotional decision analysis.

    An LLM reads a situation, PyTorch analyzers score it (emotion, Bentham, moral foundations,
    regret, SURD), a circuit integrates the scores and the LLM writes the summary.
    """


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="redheart")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
