"""The optional parts of redheart and the pip extra that installs each.

The core (``analyze``, the pipeline, the plugins) needs none of them; ``redheart serve`` needs
``serve``, training, batch runs and SURD studies need ``train``. A command whose extra is
missing fails with one line naming the pip command, instead of an ImportError traceback.
"""

from __future__ import annotations

import importlib.util

from .errors import RedheartError

#: extra -> the modules it provides
EXTRAS: dict[str, tuple[str, ...]] = {
    "serve": ("fastapi", "uvicorn", "prometheus_client"),
    "train": ("lightning", "matplotlib"),
}


class MissingExtra(RedheartError):
    """A command needs an optional part that is not installed."""


def require(extra: str, what: str) -> None:
    """Fail with :class:`MissingExtra` unless every module of ``extra`` can be imported."""
    missing = [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtra(f"{what} needs the '{extra}' extra ({', '.join(missing)} not "
                           f"installed): pip install 'redheart-core[{extra}]'")
