"""The edge's log lines as the compiled ``gateway.server.logline`` makes them, for comparing it
with pure Python: ``tests/native_transcript.py`` appends these lines to the core's transcript.
Plain fields, and every kind of value that needs quoting, cutting or the slow path.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterator

from gateway.server import logline


class _Colour(enum.Enum):
    RED = "red"


def logline_transcript() -> Iterator[str]:
    stamps = logline.Stamps(time.gmtime)
    plain: dict[str, object] = {"phone": "013800000001", "device": "ACME_TK-1_T1", "version": 1}
    odd: list[dict[str, object]] = [
        {},
        {"phone": ""},
        {"remote": "[::1]:808", "reason": "peer closed"},
        {"text": 'quote " backslash \\ tab \t nl \n esc \x1b csi \x9b del \x7f'},
        {"long": "x" * (logline.MAX_VALUE_CHARS + 3)},
        {"flag": True, "none": None, "ratio": 0.25, "colour": _Colour.RED},
        {"bytes": b"\x00\x01", "list": [1, "a b"], "negative": -7, "big": 2**70},
    ]
    for created in (-1.5, 0.0, 1_700_000_000.0425, 1_700_000_000.999, 1_700_000_001.5):
        for event in ("authenticated", "two words", "", "x" * 600, "tab\there"):
            for fields in (plain, *odd):
                yield logline.line(stamps, created, "info", event, fields)
    pending = [(1_700_000_002.25, "registration", plain), (1_700_000_002.5, "odd", odd[3])]
    yield logline.lines(stamps, "warning", pending, "\n")
    for value in ("", "plain", "a=b", "é", "\x85", 12, None):
        yield f"{logline.quote(value)} {logline.bounded(value)!r}"
    parts: list[str] = []
    logline.append_pairs(parts, [("a", "b c"), ("n", 3), ("e", "")])
    yield " ".join(parts)
    yield repr(logline.plain_pairs(plain))
