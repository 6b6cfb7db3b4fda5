"""Plugin options that validate themselves: checks in a dataclass's ``__post_init__``.

redheart turns the config values into the options dataclass once, at load
(:func:`redheart_core.config.validate_options`), so ``__post_init__`` runs there. An
:class:`OptionError` names only the field; the core adds the key path where the options live
(``analyzer_options.emotion.llm_weight``), so a plugin never hard-codes its own config path.
"""

from __future__ import annotations

from typing import Any


class OptionError(ValueError):
    """An option's value is of the right type but not allowed; ``field`` names the option."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def check_range(options: Any, field: str, low: float, high: float | None = None) -> None:
    """Fail unless ``options.<field>`` is None or within ``low..high`` (``high`` None: no bound)."""
    value = getattr(options, field)
    if value is None:
        return
    if value < low or (high is not None and value > high):
        bound = f"in {low}..{high}" if high is not None else f"at least {low}"
        raise OptionError(field, f"must be {bound}, got {value}")


def check_positive(options: Any, field: str) -> None:
    """Fail unless ``options.<field>`` is greater than 0."""
    value = getattr(options, field)
    if value is not None and value <= 0:
        raise OptionError(field, f"must be positive, got {value}")
