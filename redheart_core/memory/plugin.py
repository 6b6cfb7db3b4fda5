"""Registers the built-in memory strategies through the same hook third-party plugins use.

Nothing heavy is imported here: the strategy classes are plain Python.
"""

from __future__ import annotations

from ..hookspecs import hookimpl


def _factory(cls):
    def factory(options):
        return cls(options)

    factory.__doc__ = cls.description
    return factory


@hookimpl
def redheart_register_memory_strategies(register):
    from .strategies import BUILTIN_STRATEGIES

    for cls in BUILTIN_STRATEGIES:
        register(cls.name, _factory(cls), options=cls.options_class, description=cls.description)
