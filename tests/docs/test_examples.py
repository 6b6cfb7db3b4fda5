"""The docs are true: every shell command, YAML block and Python snippet in README.md and
docs/ that can run offline runs here, and the output a page shows is checked.

What cannot run offline is either a command matching :data:`NEEDS` (each with its reason) or a
block marked ``<!-- docs-test: skip: REASON -->`` in the page (see :mod:`blocks`). Commands run
in a scratch directory holding ``examples/`` and ``.venv`` (links to the repository's) and the
files the pages name with ``<!-- docs-test: file: NAME -->``; ``redheart`` commands run in
this process through click (the models load once), anything else through bash.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

from redheart_core.cli import cli

from .blocks import REPO, Block, all_blocks, commands, console_runs, matches

#: commands that cannot run offline here, each with the reason (a regular expression each)
NEEDS: dict[str, str] = {
    r"llm\.backend=(claude|openai)|_API_KEY": "an API key and the network",
    r"^(\w+=\S*\s+)*(\S+/)?make\b|(^|\s)(\S+/)?pip install\b": "sets up the environment (`make test` did)",
    r"^(?!.*config (validate|show)).*--config my\.yaml": "my.yaml selects Claude: an API key and the network",
    r"redheart serve\b": "a server that runs until stopped (tests/service runs it)",
    r"^curl\b": "a running server",
    r"-m benchmarks|^(\S+/)?python -m pytest|^REDHEART_STRICT_PLUGINS=1 pytest": "the benchmarks or a test suite (make bench, make test)",
    r"--accelerator gpu|-m gpu": "a GPU",
    r"--strategy ddp": "two processes on a 2-core machine (tests/training runs DDP)",
    r"^redheart train\b": "minutes of training (tests/training trains heads)",
    r"analyzers=\[stakeholders": "the redheart-stakeholders package (tests/kit builds it from writing-plugins.md)",
    r"checkpoint=(\./emotion\.pt|heads/)|embedding\.model=heads/": "a trained head (made by redheart train)",
    r"embedding\.model=(my-model|/tmp/tiny)\.safetensors": "a model trained by redheart train model (tests/model trains one)",
}
#: the shown API keys, model paths and placeholders a YAML block may hold are fine to load
ENV = {"ANTHROPIC_API_KEY": "sk-ant-docs-test", "OPENAI_API_KEY": "sk-docs-test", "MY_KEY": "k"}

BLOCKS = all_blocks()


def need(command: str) -> str | None:
    return next((why for pattern, why in NEEDS.items() if re.search(pattern, command)), None)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A directory like the repository root to run the pages' commands in."""
    root = tmp_path_factory.mktemp("docs-workspace")
    for name in ("examples", ".venv", "redheart_plugins_claude", "redheart_plugins_openai",
                 "redheart_plugins_local"):
        (root / name).symlink_to(REPO / name)
    for block in BLOCKS:
        if block.file_name:
            target = root / block.file_name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.body + "\n", encoding="utf-8")
    return root


@contextlib.contextmanager
def inside(path: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def run(command: str, cwd: Path) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of one command line, with the placeholder API keys of
    :data:`ENV` set as a reader who followed the pages would have them (``config validate``
    builds the backend a config names, which needs its key)."""
    words = shlex.split(command, comments=True)
    env = dict(ENV)
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    plain = not re.search(r"[|;&]|\$\(", command)
    if plain and words and words[0] in ("redheart", ".venv/bin/redheart"):
        args, stdin, stdout_to = [], None, None
        it = iter(words[1:])
        for word in it:
            if word == "<":
                stdin = (cwd / next(it)).read_text(encoding="utf-8")
            elif word == ">":
                stdout_to = cwd / next(it)
            else:
                args.append(word)
        with inside(cwd):
            result = CliRunner().invoke(cli, args, input=stdin, env=env or None,
                                        catch_exceptions=False)
        if stdout_to is not None:
            stdout_to.write_text(result.stdout, encoding="utf-8")
            return result.exit_code, "", result.stderr
        return result.exit_code, result.stdout, result.stderr
    bin_dir = str(REPO / ".venv" / "bin")
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**os.environ, **env,
                                            "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    return proc.returncode, proc.stdout, proc.stderr


def shown_pairs(annotation: str) -> list[tuple[str, str]]:
    """``"key": value`` pairs with a scalar value from a ``# "extras": {...}`` annotation."""
    return re.findall(r'"(\w+)":\s*("[^"]*"|-?\d+(?:\.\d+)?|true|false|null)(?=\s*[,}])', annotation)


def by_kind(*langs: str) -> list[Block]:
    return [b for b in BLOCKS if b.lang in langs]


# ------------------------------------------------------------------ shell commands


@pytest.mark.parametrize("block", by_kind("bash"), ids=lambda b: b.id)
def test_shell_commands_run(block, workspace):
    if block.skip_reason:
        pytest.skip(block.skip_reason)
    ran = 0
    for command in commands(block):
        if need(command.text):
            continue
        code, out, err = run(command.text, workspace)
        assert code == 0, f"{block.id}: `{command.text}` exited {code}:\n{err[-2000:]}"
        for annotation in command.shows:
            for key, value in shown_pairs(annotation):
                assert re.search(rf'"{key}":\s*{re.escape(value)}(?![\w.])', out), (
                    f"{block.id}: `{command.text}` shows {key}: {value}, which its output lacks")
        ran += 1
    if not ran:
        pytest.skip("; ".join(sorted({need(c.text) for c in commands(block)} - {None})))


@pytest.mark.parametrize("block", [b for b in BLOCKS if console_runs(b)], ids=lambda b: b.id)
def test_shown_command_output_is_what_the_command_prints(block, workspace):
    if block.skip_reason:
        pytest.skip(block.skip_reason)
    for command, shown in console_runs(block):
        assert not need(command), f"{block.id}: mark the block skip, `{command}` needs {need(command)}"
        code, out, err = run(command, workspace)
        assert matches(shown, out + err), (f"{block.id}: `{command}` printed\n{out}{err}\n"
                                          f"but the page shows\n" + "\n".join(shown))


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.output_of], ids=lambda b: b.id)
def test_output_blocks_match_their_command(block, workspace):
    code, out, err = run(block.output_of, workspace)
    assert code == 0, err
    if block.lang == "json":
        try:
            shown = json.loads(block.body)
        except json.JSONDecodeError:  # a shape with ... in it: every key it names is there
            printed = out
            for key in re.findall(r'"(\w+)":', block.body):
                assert f'"{key}":' in printed, f"{block.id}: the output has no {key!r}"
            return
        assert json.loads(out) == shown
    else:
        assert matches(block.body.splitlines(), out + err), f"{block.id}: printed\n{out}{err}"


# ------------------------------------------------------------------ synopses


def _synopsis_lines() -> list[tuple[Block, str]]:
    return [(b, line) for b in by_kind("text") if not b.skip_reason
            for line in b.body.splitlines() if line.startswith("redheart ") and "$" not in line]


@pytest.mark.parametrize("block, line", _synopsis_lines(), ids=lambda v: getattr(v, "id", ""))
def test_synopsis_options_exist(block, line):
    import click

    words = line.split()[1:]
    cmd: click.Command = cli
    ctx = click.Context(cli)
    while isinstance(cmd, click.Group) and words and words[0] in cmd.list_commands(ctx):
        cmd = cmd.get_command(ctx, words.pop(0))
    known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"--version", "--help"}
    for option in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", line):
        assert option in known, f"{block.id}: {option} is not an option of `{line.split(' [')[0]}`"


# ------------------------------------------------------------------ YAML and Python


@pytest.mark.parametrize("block", by_kind("yaml"), ids=lambda b: b.id)
def test_yaml_blocks_are_valid_configs(block, workspace, tmp_path, monkeypatch):
    if block.skip_reason:
        pytest.skip(block.skip_reason)
    from redheart_core.config import load_config

    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    path = tmp_path / "block.yaml"
    path.write_text(block.body, encoding="utf-8")
    with inside(workspace):
        load_config(files=[path])


@pytest.mark.parametrize("block", by_kind("python"), ids=lambda b: b.id)
def test_python_snippets_run(block, workspace):
    if block.skip_reason:
        pytest.skip(block.skip_reason)
    if block.body.lstrip().startswith("# file:"):
        pytest.skip("part of the package tests/kit/test_plugin_from_docs.py builds and tests")
    with inside(workspace):
        exec(compile(block.body, block.id, "exec"), {"__name__": "__docs__"})


def test_every_block_is_run_checked_or_says_why_not():
    """A block of a kind the tests do not run must say why (a skip marker) or be a picture."""
    unexplained = []
    for block in BLOCKS:
        if block.lang in ("bash", "python", "yaml", "toml") or block.skip_reason or block.output_of:
            continue
        if console_runs(block) or block.file_name:
            continue
        if block.lang in ("text", "") and not re.search(r"^\$ |^redheart ", block.body, re.M):
            continue  # a diagram or a quoted message, not a command
        if block.lang in ("text",) and _is_synopsis(block):
            continue
        unexplained.append(block.id)
    assert not unexplained, f"blocks neither run nor marked: {unexplained}"


def _is_synopsis(block: Block) -> bool:
    return all(line.startswith("redheart ") for line in block.body.splitlines() if line.strip())


def test_the_quickstart_s_first_analysis_prints_what_it_promises(workspace):
    """quickstart.md: the report shows the primary emotion and its three levels, the Bentham
    scores, the moral foundations, the anticipated regret of each scenario, the SURD
    decomposition, the final ethical score with its reasoning trace, and the summary."""
    code, out, _ = run('redheart analyze --set seed=0 "My friend asked me to lie to cover for him '
                       'at work. If I refuse he may lose his job."', workspace)
    assert code == 0
    text = " ".join(out.split())
    promised = ["emotion · primary", "levels: self", ", other", ", community", "Bentham · final",
                "ethics: care_harm", "regret of optimistic", "regret of neutral",
                "regret of pessimistic", "SURD of base_score", "final ethical score", "reasoning:",
                "1 experience:", "[offline summary"]
    missing = [p for p in promised if p not in text]
    assert not missing, f"the report lacks {missing}:\n{out}"
    page = (REPO / "docs" / "quickstart.md").read_text(encoding="utf-8")
    assert "its three levels" in page and "reasoning trace" in page


def test_make_soak_runs_at_the_documented_rate():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    rate = re.search(r"^SOAK_RATE \?= (\S+)", makefile, re.M).group(1)
    page = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    shown = re.search(r"make soak\s+# 20 minutes at (\S+) requests?/s", page).group(1)
    assert shown == rate, f"operations.md says {shown} requests/s, the Makefile runs {rate}"
