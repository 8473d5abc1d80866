"""The messages between the event loop and the log's writer process (``writer``), over a
socket pair: each a tuple of plain values (str, int, bytes, lists, tuples, None) sent as a
4-byte length and its ``marshal`` form. ``marshal`` is C all the way: packing a commit's rows
costs the loop a few microseconds, and both ends run the same interpreter (the format may
change between Python versions, never within one).

Loop → writer: ``OPEN`` (the settings, once first), ``BATCH`` (a sealed batch's rows, their
``seq`` the event's place in the batch from 1: the writer numbers them), ``DRILL`` (fault
drills), ``STOP``.
Writer → loop: ``READY`` / ``UNAVAILABLE`` (the answer to ``OPEN``), ``COMMITTED`` (every batch
up to an id is stored, numbered after a sequence), ``FAILED`` (every batch up to an id is not
stored, and why), ``REPAIRED`` (a damaged log was replaced), ``FIGURES`` (size, bounds,
retention), ``CLOSED``.
"""

from __future__ import annotations

import marshal
import struct
from typing import Final

OPEN: Final = "open"
BATCH: Final = "batch"
DRILL: Final = "drill"
STOP: Final = "stop"
READY: Final = "ready"
UNAVAILABLE: Final = "unavailable"
COMMITTED: Final = "committed"
FAILED: Final = "failed"
REPAIRED: Final = "repaired"
FIGURES: Final = "figures"
CLOSED: Final = "closed"

Message = tuple[object, ...]

_LENGTH: Final = struct.Struct("<I")
#: A message longer than this is a broken channel, not a message (a batch of 65,536 reports
#: is a few MiB).
MAX_MESSAGE: Final = 256 * 1024 * 1024


class ChannelError(Exception):
    """The other end sent something that is not a message."""


def frame(message: Message) -> bytes:
    body = marshal.dumps(message)  # type: ignore[arg-type]  # checked by marshal itself
    return _LENGTH.pack(len(body)) + body


class Unframer:
    """Cuts the bytes received into messages, whatever the pieces they arrive in."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        buffer = self._buffer
        buffer += data
        messages: list[Message] = []
        start = 0
        size = len(buffer)
        while size - start >= 4:
            (length,) = _LENGTH.unpack_from(buffer, start)
            if length > MAX_MESSAGE:
                raise ChannelError(f"a message of {length} bytes")
            end = start + 4 + length
            if end > size:
                break
            try:
                with memoryview(buffer) as view:  # released before the buffer is cut
                    message = marshal.loads(view[start + 4 : end])
            except (EOFError, ValueError, TypeError) as error:
                raise ChannelError(f"not a message: {error}") from None
            if not isinstance(message, tuple) or not message:
                raise ChannelError(f"not a message: {type(message).__name__}")
            messages.append(message)
            start = end
        if start:
            del buffer[:start]
        return messages
