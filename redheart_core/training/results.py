"""The batch results file: one JSON line per input id, appended per record.

With several processes each rank appends to its own part file next to the output
(``OUT.rank<N>.part``, on the same shared filesystem across nodes) and global rank 0 merges
the parts into ``OUT`` when every rank is done. A run that is killed leaves at worst one
half-written last line in some file; :meth:`ResultsFile.consolidate`, run before the next
batch starts, cuts it off and merges leftover parts, so a rerun sees every finished id once
and redoes only the rest.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

_PART = re.compile(r"\.rank(\d+)\.part$")


@dataclass
class ResultsSummary:
    """What a results file holds: ids with a result, ids with an error."""

    results: int = 0
    errors: int = 0

    @property
    def total(self) -> int:
        return self.results + self.errors


def _complete_lines(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(raw line, record)`` for each complete, valid line; a torn last line is skipped."""
    with path.open("r", encoding="utf-8") as fh:
        for raw in fh:
            if not raw.endswith("\n"):
                return
            try:
                record = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("id"), str):
                yield raw, record


def _cut_torn_tail(path: Path) -> None:
    """Truncate a file to its last newline, dropping a line a killed writer left half-done."""
    with path.open("rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        pos = size
        while pos > 0:
            step = min(65536, pos)
            fh.seek(pos - step)
            chunk = fh.read(step)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                fh.truncate(pos - step + newline + 1)
                return
            pos -= step
        fh.truncate(0)


class ResultsFile:
    """The output JSONL of ``redheart batch`` and its per-rank part files."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def part_path(self, rank: int) -> Path:
        return self.path.with_name(f"{self.path.name}.rank{rank}.part")

    def parts(self) -> list[Path]:
        pattern = f"{self.path.name}.rank*.part"
        return sorted(self.path.parent.glob(pattern),
                      key=lambda p: int(_PART.search(p.name).group(1)) if _PART.search(p.name) else -1)

    def done_ids(self) -> set[str]:
        """Ids already answered, in the output or in parts a killed run left behind."""
        ids: set[str] = set()
        for path in [self.path, *self.parts()]:
            if path.is_file():
                ids.update(record["id"] for _, record in _complete_lines(path))
        return ids

    def summary(self) -> ResultsSummary:
        summary = ResultsSummary()
        if self.path.is_file():
            for _, record in _complete_lines(self.path):
                if "error" in record:
                    summary.errors += 1
                else:
                    summary.results += 1
        return summary

    def consolidate(self) -> None:
        """Make ``OUT`` the one complete record of the run: cut a torn last line, append every
        part's lines whose id ``OUT`` does not hold yet, and delete the parts."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_file():
            _cut_torn_tail(self.path)
        parts = self.parts()
        if not parts:
            return
        seen = {record["id"] for _, record in _complete_lines(self.path)} if self.path.is_file() else set()
        with self.path.open("a", encoding="utf-8") as out:
            for part in parts:
                for raw, record in _complete_lines(part):
                    if record["id"] not in seen:
                        seen.add(record["id"])
                        out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        for part in parts:
            part.unlink()

    def open_for_rank(self, rank: int, world_size: int) -> "RecordWriter":
        """The file a rank appends to: ``OUT`` itself when it is the only one, else its part."""
        target = self.path if world_size == 1 else self.part_path(rank)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_file():
            _cut_torn_tail(target)
        return RecordWriter(target)


class RecordWriter:
    """Appends one JSON line per record with a single ``write(2)`` on an ``O_APPEND`` file
    descriptor, so a line reaches the file whole as soon as it is written (no user-space
    buffer to lose, and a kill cannot land between two halves of a buffered line)."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.written: set[str] = set()

    def write(self, record: dict[str, Any]) -> bool:
        """Write ``record`` unless its id was written already; True when written."""
        if record["id"] in self.written:
            return False
        data = (json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
        while data:
            data = data[os.write(self._fd, data):]
        self.written.add(record["id"])
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
