"""Situations from outside the process: strictly UTF-8, and never longer than ``server.max_chars``.

The CLI and continuous mode read raw bytes and decode them here, so undecodable input is refused
with a message that says where and what to do (instead of reaching the analyzers as lone
surrogates), and an oversized input is refused after reading at most a little more than the limit
(instead of being buffered whole).
"""

from __future__ import annotations

from typing import BinaryIO

from .errors import RedheartError

#: the most bytes one character takes in UTF-8
UTF8_MAX_BYTES = 4


class InputError(RedheartError):
    """Input that cannot be analyzed as given: not valid UTF-8, or too long."""


def decode_utf8(raw: bytes, where: str) -> str:
    """``raw`` as UTF-8 text, or :class:`InputError` naming the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{where} is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset "
                         f"{exc.start}); convert it first, e.g. with iconv -t UTF-8") from None


def check_decoded(text: str, where: str) -> str:
    """``text`` unchanged, unless it holds the lone surrogates Python uses for bytes it could
    not decode (command-line arguments arrive that way)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"{where} is not valid UTF-8 (at character {exc.start}); convert it "
                         "first, e.g. with iconv -t UTF-8") from None
    return text


def check_length(text: str, limit: int, where: str) -> str:
    if len(text) > limit:
        raise InputError(f"{where} has {len(text)} characters; the limit is {limit} "
                         "(server.max_chars)")
    return text


def read_limited(stream: BinaryIO, limit: int, where: str) -> str:
    """All of ``stream`` as text of at most ``limit`` characters, reading no more than the
    bytes such a text can take."""
    most = UTF8_MAX_BYTES * limit
    raw = stream.read(most + 1)
    if len(raw) > most:
        raise InputError(f"{where} is longer than {limit} characters (server.max_chars); "
                         "analyze a shorter text or raise the limit")
    return check_length(decode_utf8(raw, where), limit, where)
