"""The code blocks of README.md and docs/*.md, and what the docs tests do with each.

A block is a fenced block (```bash, ```python, ```yaml, ```json, ```text or a bare fence) or an
indented block whose first line is a ``$ command``. An HTML comment on the line before a block
steers it (invisible in the rendered page):

- ``<!-- docs-test: skip: REASON -->``: not run, for the reason given (a shown API key, a model
  on the reader's disk, a fragment that needs context);
- ``<!-- docs-test: file: NAME -->``: written into the examples' working directory as NAME
  before any block runs (a ``my.yaml`` the commands use), and checked like any block of its kind;
- ``<!-- docs-test: output of: COMMAND -->``: the block is what COMMAND prints; the test runs it
  and compares (JSON: equal; text: line by line, ``...`` standing for any text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

FENCE = re.compile(r"^```(\w*)\s*$")
MARKER = re.compile(r"^<!--\s*docs-test:\s*(skip|file|output of):\s*(.*?)\s*-->\s*$")


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence (or of the first indented line)
    lang: str  # bash, python, yaml, json, text, console ("$" lines in an indented block), ""
    body: str
    marker: tuple[str, str] | None = None  # (kind, argument)

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"

    @property
    def skip_reason(self) -> str | None:
        return self.marker[1] if self.marker and self.marker[0] == "skip" else None

    @property
    def file_name(self) -> str | None:
        return self.marker[1] if self.marker and self.marker[0] == "file" else None

    @property
    def output_of(self) -> str | None:
        return self.marker[1] if self.marker and self.marker[0] == "output of" else None


def blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        marker_match = MARKER.match(lines[i - 1].strip()) if i else None
        marker = (marker_match.group(1), marker_match.group(2)) if marker_match else None
        fence = FENCE.match(lines[i].strip()) if lines[i].startswith("```") else None
        if fence:
            body: list[str] = []
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                body.append(lines[j])
                j += 1
            found.append(Block(page, i + 1, fence.group(1), "\n".join(body), marker))
            i = j + 1
            continue
        prev_blank = i == 0 or not lines[i - 1].strip() or marker is not None
        if prev_blank and lines[i].startswith("    $ "):
            body = []
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                body.append(lines[j][4:])
                j += 1
            found.append(Block(page, i + 1, "console", "\n".join(body).rstrip(), marker))
            i = j
            continue
        i += 1
    return found


def all_blocks() -> list[Block]:
    return [b for page in PAGES for b in blocks(page)]


@dataclass
class Command:
    """One shell command line of a bash block (continuation lines joined) and the comment
    lines under it that show part of its output (``# "key": value, ...``)."""

    block: Block
    text: str
    shows: list[str] = field(default_factory=list)


def commands(block: Block) -> list[Command]:
    out: list[Command] = []
    pending = ""
    for raw in block.body.splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        if line.lstrip().startswith("#"):
            comment = line.lstrip()[1:].strip()
            if out and comment.startswith('"'):
                out[-1].shows.append(comment)
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append(Command(block, (pending + line).strip()))
        pending = ""
    return out


def console_runs(block: Block) -> list[tuple[str, list[str]]]:
    """``$ command`` lines and the lines each one shows, from a console-style block."""
    runs: list[tuple[str, list[str]]] = []
    for line in block.body.splitlines():
        if line.startswith("$ "):
            runs.append((line[2:].strip(), []))
        elif runs:
            runs[-1][1].append(line)
    return [(cmd, _trim(shown)) for cmd, shown in runs]


def _trim(lines: list[str]) -> list[str]:
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def matches(shown: list[str], printed: str) -> bool:
    """Whether ``printed`` (normalised whitespace per line) matches the shown lines, where a
    shown ``...`` stands for any text (within a line, or whole lines when alone)."""
    pattern = []
    for line in shown:
        line = " ".join(line.split())
        if line == "...":
            pattern.append(r"(?:.*\n)*?")
            continue
        parts = [re.escape(p) for p in line.split("...")]
        pattern.append(".*".join(parts) + r"\n")
    text = "\n".join(" ".join(line.split()) for line in printed.splitlines()) + "\n"
    return re.fullmatch("".join(pattern), text, flags=re.DOTALL) is not None
