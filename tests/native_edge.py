"""The edge's small compiled modules at work, as lines, for comparing compiled and pure Python.

``tests/native_transcript.py`` appends these lines to the core's transcript: the text of log
lines (``gateway.server.logline``) for plain fields and for every kind of value that needs
quoting, cutting or the slow path; admission (``gateway.server.admission``) admitting,
refusing at each bound and shedding; the deadline queue and its loop timer
(``gateway.server.timers``) with deadlines moved earlier, later, cancelled and due.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Iterator

from gateway.server import logline
from gateway.server.admission import Admission
from gateway.server.limitlog import LimitLog
from gateway.server.timers import DeadlineQueue, LoopTimer


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


class _Hits:
    """A stand-in for the limit-hit counter: each hit becomes a line."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def labels(self, limit: str) -> _Hits:
        self.lines.append(f"hit {limit}")
        return self

    def inc(self) -> None:
        pass


def admission_transcript() -> Iterator[str]:
    lines: list[str] = []
    busy = {"b"}
    gate: Admission[str] = Admission(
        max_connections=5,
        max_unauthenticated=3,
        max_per_address=2,
        limits=LimitLog(_Hits(lines), lambda: 0.0),
        busy=lambda connection: connection in busy,
    )
    steps = [
        ("a", "10.0.0.1", 0.0),
        ("b", "10.0.0.2", 1.0),
        ("c", "10.0.0.1", 2.0),
        ("d", "10.0.0.1", 3.0),  # a third from one address: refused
        ("e", "10.0.0.3", 4.0),  # "b" authenticated meanwhile: room
        ("f", "10.0.0.3", 4.5),  # the unauthenticated budget full, none old enough: refused
        ("f", "10.0.0.3", 6.0),  # "a" is old enough: shed
        ("g", "10.0.0.4", 9.0),  # "c" is shed
    ]
    for connection, host, now in steps:
        lines.append(f"refusal {gate.refusal(host, now)!r}")
        lines.append(f"admit {connection} {gate.admit(connection, host, now)}")
        lines.append(f"{len(gate)} {gate.unauthenticated}")
        if connection == "c":
            gate.authenticated("b")
            gate.authenticated("b")
    gate.release("c")
    gate.release("zz")
    gate.bound(2)  # below what it holds: a newcomer sheds an idle one
    lines.append(f"admit h {gate.admit('h', '10.0.0.9', 30.0)} {gate.max_connections}")
    lines.append(f"{len(gate)} {gate.unauthenticated} {gate.max_unauthenticated}")
    yield from lines


async def _timers(lines: list[str]) -> None:
    queue: DeadlineQueue[str] = DeadlineQueue()
    for owner, deadline in (("a", 5.0), ("b", 3.0), ("a", 7.0), ("c", 3.0), ("a", 1.0)):
        lines.append(f"schedule {owner} {deadline} {queue.schedule(owner, deadline)}")
    queue.cancel("c")
    lines.append(f"armed {queue.armed('a')} {queue.armed('c')} {len(queue)}")
    lines.append(f"next {queue.next_deadline()} due {queue.pop_due(4.0)} {len(queue)}")
    lines.append(f"next {queue.next_deadline()} due {queue.pop_due(9.0)} {len(queue)}")
    now = [100.0]
    timer: LoopTimer[str] = LoopTimer(
        asyncio.get_running_loop(),
        lambda owner, at: lines.append(f"due {owner} {at}"),
        lambda: now[0],
    )
    timer.schedule("x", 100.0)
    timer.schedule("y", 99.0)
    timer.schedule("z", 1e9)
    timer.cancel("y")
    for _ in range(3):
        await asyncio.sleep(0)
    lines.append(f"armed z {timer.queue.armed('z')} {len(timer.queue)}")
    timer.close()


def timers_transcript() -> Iterator[str]:
    lines: list[str] = []
    asyncio.run(_timers(lines))
    yield from lines
