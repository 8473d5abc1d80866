"""The text of a logfmt line: the part of ``gateway.server.logs`` every handshake runs.

A handshake logs two info lines (``registration``, ``authenticated``) and a close a third; the
batching handler (``gateway.server.logbatch``) makes them from their fields once per loop
iteration. This module is that work: quoting, cutting, the ``ts=`` stamp and the pairs. It is
compiled with the protocol core (``gateway.native``), so it holds no class of ``logging``: the
formatter in ``logs`` keeps those and calls in here. Compiled and pure give the same text
(``tests/native_transcript.py``); ``logs``' tests pin the format.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import Final

#: What makes a logfmt value need quotes: separators, quotes, backslashes, control characters.
UNSAFE: Final = re.compile(r'[\s="\\\x00-\x1f\x7f-\x9f]')
#: Control characters as escapes: a terminal's bytes must not forge lines or colours in a log.
ESCAPES: Final[dict[int, str]] = {
    code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))
}
ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
ESCAPES.update({ord("\\"): "\\\\", ord('"'): '\\"'})
#: The longest value a line carries (a traceback excepted): values can come from the wire.
MAX_VALUE_CHARS: Final = 512
#: Events as ``line`` writes them (a handful of fixed names, quoted once), and how many at most.
_EVENTS: Final[dict[str, str]] = {}
MAX_EVENTS: Final = 256


def bounded(value: object) -> object:
    """``value`` as it goes into a line: text longer than ``MAX_VALUE_CHARS`` is cut and says
    how much was left out; other values unchanged."""
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return f"{value[:MAX_VALUE_CHARS]}...(+{len(value) - MAX_VALUE_CHARS} chars)"
    return value


def quote(value: object) -> str:
    """``value`` as a logfmt value: as it is, or quoted with its unsafe characters escaped."""
    text = str(value)
    if text == "" or UNSAFE.search(text):
        return '"' + text.translate(ESCAPES) + '"'
    return text


def append_pairs(parts: list[str], items: Iterable[tuple[str, object]]) -> None:
    """``key=value`` for each item, values cut and quoted as needed."""
    for key, value in items:
        text = str(bounded(value)) if isinstance(value, str) else str(value)
        if text and not UNSAFE.search(text):
            parts.append(f"{key}={text}")
        else:
            parts.append(f'{key}="{text.translate(ESCAPES)}"')


def plain_pairs(fields: dict[str, object]) -> str | None:
    """`` key=value`` for each field, when every value is an int or text that needs neither
    quotes nor cutting (the fields of a connection's lines: one search for all of them instead
    of one per value); None otherwise (``append_pairs`` then writes them)."""
    parts: list[str] = []
    texts: list[str] = []
    for key, value in fields.items():
        kind = type(value)
        if kind is str:
            text = str(value)
            if not text or len(text) > MAX_VALUE_CHARS:
                return None
            texts.append(text)
        elif kind is int:  # not bool, enums, ...: written as ``append_pairs`` writes them
            text = str(value)
        else:
            return None
        parts.append(" ")
        parts.append(key)
        parts.append("=")
        parts.append(text)
    if UNSAFE.search("".join(texts)):
        return None
    return "".join(parts)


class Stamps:
    """The time of lines (``ts``): the date and time as ``converter`` gives them (local time,
    as ``logging`` does), made once a second, and the milliseconds."""

    def __init__(self, converter: Callable[[float | None], time.struct_time]) -> None:
        self.converter = converter
        self._second: int | None = None  # the second ``_text`` is of (None: none yet)
        self._text = ""

    def stamp(self, created: float, msecs: int) -> str:
        second = int(created)
        if second != self._second:  # the date and time change once a second, not per line
            self._text = time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(created))
            self._second = second
        if 0 <= msecs < 1000:  # ".042" without a format spec (parsed per call, not free)
            return self._text + "." + str(1000 + msecs)[1:]
        return f"{self._text}.{msecs:03d}"  # before 1970


def line(stamps: Stamps, created: float, level: str, event: str, fields: dict[str, object]) -> str:
    """The line of ``event`` at ``level`` (a lower-case level name) with ``fields``, created at
    ``created`` (what ``logs.LogfmtFormatter.format`` makes of the same record)."""
    quoted = _EVENTS.get(event)
    if quoted is None:
        quoted = quote(bounded(event))
        if len(_EVENTS) < MAX_EVENTS:
            _EVENTS[event] = quoted
    msecs = int((created - int(created)) * 1000)
    head = "ts=" + stamps.stamp(created, msecs) + " level=" + level + " event=" + quoted
    pairs = plain_pairs(fields)
    if pairs is not None:
        return head + pairs
    parts = [head]
    append_pairs(parts, fields.items())
    return " ".join(parts)


def lines(
    stamps: Stamps,
    level: str,
    pending: list[tuple[float, str, dict[str, object]]],
    terminator: str,
) -> str:
    """The lines of ``pending`` (when, event, fields) at ``level``, each ended by
    ``terminator``: the text of one write."""
    out: list[str] = []
    for created, event, fields in pending:
        out.append(line(stamps, created, level, event, fields))
        out.append(terminator)
    return "".join(out)
