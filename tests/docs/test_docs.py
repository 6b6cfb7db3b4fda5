"""The docs cover what users and plugin authors rely on: every hook, config key and command.

These tests walk the real objects (the hookspecs module, the structured config, the click
group with its nested groups and options), so a new key, option or command that is not
documented fails here with the name to add and the file to add it to.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import click
import pytest

from redheart_core import hookspecs
from redheart_core.cli import cli
from redheart_core.config import iter_keys
from redheart_core.plugins import KINDS

DOCS = Path(__file__).resolve().parents[2] / "docs"
REQUIRED_PAGES = ("index.md", "quickstart.md", "configuration.md", "cli.md", "result.md",
                  "writing-plugins.md", "benchmarks.md")
#: options shared by every config-driven command, documented once in cli.md's common section
COMMON_OPTIONS = {"--config", "--set", "--debug", "--help", "--verbose", "--quiet"}
HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
LINK = re.compile(r"\[[^\]]*\]\(([^)#\s]+)(?:#[^)]*)?\)")


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def sections(text: str) -> dict[str, str]:
    """Heading text -> the text under it, up to the next heading of the same or higher level.

    Lines inside fenced code blocks are never headings (``# file: ...`` comments are not).
    """
    heads: list[tuple[int, str, int, int]] = []  # level, title, start, end of the heading line
    fenced = False
    offset = 0
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := HEADING.match(line.rstrip("\n"))):
            heads.append((len(match.group(1)), match.group(2).strip(), offset, offset + len(line)))
        offset += len(line)
    out = {}
    for i, (level, title, _, body_start) in enumerate(heads):
        end = next((start for lvl, _, start, _ in heads[i + 1:] if lvl <= level), len(text))
        out[title] = text[body_start:end]
    return out


def command_paths() -> list[tuple[str, click.Command]]:
    """Every command under ``redheart``, nested groups included (``config show``)."""
    found = []

    def walk(cmd: click.Command, path: tuple[str, ...]) -> None:
        if path:
            found.append((" ".join(path), cmd))
        if isinstance(cmd, click.Group):
            ctx = click.Context(cmd, info_name=path[-1] if path else "redheart")
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), path + (name,))

    walk(cli, ())
    return found


COMMANDS = command_paths()


def command_section(path: str) -> str:
    """The cli.md section whose heading names ``redheart <path>`` exactly."""
    pattern = re.compile(rf"`redheart {re.escape(path)}(?:\s[^`]*)?`")
    matches = [body for head, body in sections(page("cli.md")).items() if pattern.search(head)]
    assert matches, (f"docs/cli.md has no section for `redheart {path}`; add a heading "
                     f"'## `redheart {path}`' describing it, its options and exit codes")
    return matches[0]


@pytest.mark.parametrize("name", REQUIRED_PAGES)
def test_page_exists_and_has_a_title(name):
    assert (DOCS / name).is_file(), f"docs/{name} is missing"
    assert page(name).lstrip().startswith("# "), f"docs/{name} must start with a '# ' title"


@pytest.mark.parametrize("hook", sorted(n for n in dir(hookspecs) if n.startswith("redheart_")))
def test_every_hook_is_documented_for_plugin_authors(hook):
    text = page("writing-plugins.md")
    assert f"`{hook}" in text, f"hook {hook} is not documented in docs/writing-plugins.md"
    params = inspect.signature(getattr(hookspecs, hook)).parameters
    section = next((body for head, body in sections(text).items() if hook in head), "")
    for param in params:
        assert param in section, (f"docs/writing-plugins.md: the section on {hook} does not "
                                  f"explain its argument {param!r}")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_plugin_kind_has_a_worked_example(kind):
    text = page("writing-plugins.md")
    assert f"def {KINDS[kind]}(register)" in text, (
        f"docs/writing-plugins.md has no worked example implementing {KINDS[kind]}")


@pytest.mark.parametrize("key", list(iter_keys()))
def test_every_config_key_is_documented(key):
    assert f"`{key}`" in page("configuration.md"), (
        f"config key {key} is not documented in docs/configuration.md (write it as `{key}` "
        "with its default and what it does)")


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS])
def test_every_command_is_documented_with_exit_codes(path):
    body = command_section(path)
    cmd = dict(COMMANDS)[path]
    if not isinstance(cmd, click.Group):
        assert re.search(r"[Ee]xit", body), (
            f"docs/cli.md: the section on `redheart {path}` does not list its exit codes")


@pytest.mark.parametrize("path", [p for p, c in COMMANDS if not isinstance(c, click.Group)])
def test_every_option_is_documented(path):
    body = command_section(path)
    cmd = dict(COMMANDS)[path]
    common = sections(page("cli.md")).get("Common options", "")
    for param in cmd.params:
        if not isinstance(param, click.Option):
            continue
        longs = [o for o in param.opts + param.secondary_opts if o.startswith("--")]
        for opt in longs:
            where = common if opt in COMMON_OPTIONS else body
            assert re.search(rf"{re.escape(opt)}(?![\w-])", where), (
                f"docs/cli.md: option {opt} of `redheart {path}` is not documented "
                f"({'in the Common options section' if opt in COMMON_OPTIONS else 'in its section'})")


def result_fields() -> list[tuple[str, str]]:
    """(part, field) for every dataclass reachable from AnalysisResult."""
    import dataclasses
    import typing

    from redheart_core.schema import AnalysisResult

    found: list[tuple[str, str]] = []
    seen: set[type] = set()

    def walk(cls: type) -> None:
        if cls in seen:
            return
        seen.add(cls)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            found.append((cls.__name__, f.name))
            stack = [hints[f.name]]
            while stack:
                tp = stack.pop()
                if dataclasses.is_dataclass(tp):
                    walk(tp)
                stack.extend(typing.get_args(tp))

    walk(AnalysisResult)
    return found


@pytest.mark.parametrize("part,field", result_fields())
def test_every_result_field_is_documented(part, field):
    assert f"`{field}`" in page("result.md"), (
        f"field {field!r} of {part} is not documented in docs/result.md")


def shipped_registrations():
    """What redheart-core and our three backend packages register (the installed ones)."""
    from redheart_core.plugins import get_registry

    registry = get_registry()
    return [reg for kind in KINDS for reg in registry.all(kind)
            if reg.distribution == "redheart-core" or reg.distribution.startswith("redheart-plugins-")]


@pytest.mark.parametrize("reg", shipped_registrations(), ids=lambda r: f"{r.kind}:{r.name}")
def test_every_shipped_plugin_and_option_is_documented(reg):
    import dataclasses

    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md")))
    assert f"`{reg.name}`" in text, f"{reg.label} ({reg.distribution}) is not documented in docs/"
    options = [f.name for f in dataclasses.fields(reg.options)] if reg.options else []
    missing = [o for o in options if f"`{o}`" not in text]
    assert not missing, f"options {missing} of {reg.label} ({reg.distribution}) are not documented in docs/"


def test_version_option_and_plugin_environment_are_documented():
    cli_doc = page("cli.md")
    assert "--version" in cli_doc
    for var in ("REDHEART_LOAD_PLUGINS", "REDHEART_STRICT_PLUGINS"):
        assert var in cli_doc and var in page("writing-plugins.md"), f"{var} is not documented"


def test_index_links_every_page():
    index = page("index.md")
    for name in sorted(p.name for p in DOCS.glob("*.md") if p.name != "index.md"):
        assert f"({name})" in index, f"docs/index.md does not link docs/{name}"


def test_relative_links_resolve():
    broken = []
    for path in sorted(DOCS.glob("*.md")):
        for target in LINK.findall(path.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue
            if not (path.parent / target).resolve().exists():
                broken.append(f"{path.name} -> {target}")
    readme = DOCS.parent / "README.md"
    for target in LINK.findall(readme.read_text(encoding="utf-8")):
        if not re.match(r"[a-z]+:", target) and not (readme.parent / target).resolve().exists():
            broken.append(f"README.md -> {target}")
    assert not broken, f"links to files that do not exist: {broken}"
