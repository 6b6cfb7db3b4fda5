"""Whether a path can hold the experience store, checked when the config loads.

Kept apart from :mod:`.experience` so that checking ``experience.path`` imports neither numpy
nor SQLite: a config error about the path comes before anything heavy loads.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError

SQLITE_HEADER = b"SQLite format 3\x00"


def check_store_path(path: str | Path) -> None:
    """Refuse, as a config error naming ``experience.path``, a path the store cannot use:
    a directory, a file that is not SQLite, or a place that cannot be written."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise ConfigError("experience.path", f"{str(target)!r} is a directory; give the path of a "
                          "SQLite file (it is created when absent)")
    if target.exists():
        if not target.is_file():
            raise ConfigError("experience.path", f"{str(target)!r} is not a regular file")
        try:
            with target.open("rb") as handle:
                header = handle.read(len(SQLITE_HEADER))
        except OSError as exc:
            raise ConfigError("experience.path", f"{str(target)!r} cannot be read: {exc.strerror}") from None
        if header and header != SQLITE_HEADER:
            raise ConfigError("experience.path", f"{str(target)!r} is not an SQLite database; "
                              "point it at a new file or an existing experience store")
        if not os.access(target, os.W_OK) or not os.access(target.parent, os.W_OK):
            raise ConfigError("experience.path", f"{str(target)!r} cannot be written (check its "
                              "permissions and its folder's)")
        return
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError("experience.path", f"{str(target)!r} cannot be created: {str(parent)!r} "
                          "is not a writable folder")
