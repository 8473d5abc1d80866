"""Typed protocol errors.

Every error carries the JT/T 808 result code a server should answer with (the ``result`` of a
0x8001 platform general response) and, where it is known, the byte offset of the problem and the
header of the message it happened in, so that the answer can name the right serial and id.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, ClassVar, Final

if TYPE_CHECKING:
    from .header import Header


#: The most characters (or bytes) of a value that an error message repeats.
SHOWN_LENGTH: Final = 32


def shown(value: object, *, quoted: bool = True) -> str:
    """``value`` for an error message, cut when long, so that no message (API status, CLI
    error, log line) ever repeats unbounded input: ``'xxxx…' (3000 characters)``. Text and
    bytes are quoted (``repr``) unless ``quoted`` is false."""
    if isinstance(value, str | bytes | bytearray):
        unit = "characters" if isinstance(value, str) else "bytes"
        head = value[:SHOWN_LENGTH]
        text = repr(head) if quoted or not isinstance(head, str) else head
        return text if len(value) <= SHOWN_LENGTH else f"{text}… ({len(value)} {unit})"
    text = repr(value)
    return text if len(text) <= SHOWN_LENGTH else f"{text[:SHOWN_LENGTH]}… ({len(text)} characters)"


class ResultCode(IntEnum):
    """Result of a general response (0x0001 / 0x8001), JT/T 808-2019 tables 4 and 5."""

    SUCCESS = 0
    FAILURE = 1
    MESSAGE_ERROR = 2
    UNSUPPORTED = 3
    ALARM_CONFIRMED = 4  # 0x8001 only, 2013+


class ProtocolError(Exception):
    """Base of every error the protocol core reports about bytes it was given."""

    #: The JT/T 808 result code that answers the bad bytes (a class constant: subclasses set
    #: their own, which mypyc compiles only when it is declared ``ClassVar``).
    result_code: ClassVar[ResultCode] = ResultCode.MESSAGE_ERROR

    def __init__(
        self, message: str, *, offset: int | None = None, header: Header | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.header = header

    def __str__(self) -> str:
        where = f" (at byte {self.offset})" if self.offset is not None else ""
        return f"{self.message}{where}"


class FramingError(ProtocolError):
    """The byte stream is damaged: bad escape sequence, oversized frame, garbage between frames."""


class FrameTooLargeError(FramingError):
    """A frame grew past the largest legal escaped size; its bytes were discarded, not buffered."""


class GarbageError(FramingError):
    """Bytes outside any 0x7E-delimited frame were skipped while resynchronising."""


class ChecksumError(ProtocolError):
    """The XOR check code does not match header + body."""


class HeaderError(ProtocolError):
    """The message header is malformed or inconsistent with the frame length."""


class BodyError(ProtocolError):
    """The message body does not follow the layout of its message id."""


class TruncatedBodyError(BodyError):
    """The body ended before a field it declares (a complete frame that is too short)."""


class UnsupportedMessageError(ProtocolError):
    """The message id is not one the receiver implements, or not in this revision."""

    result_code = ResultCode.UNSUPPORTED


class EncodeError(ValueError):
    """A value cannot be written in the wire layout (out of range, too long, wrong revision)."""
