"""Text from a request, a model or a plugin, made inert before it reaches a terminal.

A situation, an LLM's reply or an error message may hold ANSI escape sequences, carriage returns
or bidirectional overrides that would recolour, rewrite or reorder what the user sees. Every such
string is shown with those characters spelled out (``\\x1b``), and rich never reads it as markup.
"""

from __future__ import annotations

import re

from rich.markup import escape

#: C0 controls but tab and newline, DEL, C1 controls, and the bidirectional controls
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _spell(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """``str(text)`` with every control character spelled out as an escape."""
    return _CONTROL.sub(_spell, str(text))


def markup_safe(text: object) -> str:
    """:func:`printable`, also escaped for rich markup (for f-strings that carry markup)."""
    return escape(printable(text))
