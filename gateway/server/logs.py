"""Structured logs: one line per event on stderr, phone and device in each line that concerns a
terminal. Two formats of the same fields: logfmt (``key=value`` pairs, the default, for people)
and JSON (one object per line, for log shippers). Secrets never reach a log call (auth codes are
not passed in).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import Any, Final, cast

from .logbatch import BatchedStreamHandler

LOGGER_NAME: Final = "jt808"
_RESERVED: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)))


#: What makes a logfmt value need quotes: separators, quotes, backslashes, control characters.
_UNSAFE: Final = re.compile(r'[\s="\\\x00-\x1f\x7f-\x9f]')
#: Control characters as escapes: a terminal's bytes must not forge lines or colours in a log.
_ESCAPES: Final = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
_ESCAPES.update({ord("\\"): "\\\\", ord('"'): '\\"'})


#: The longest value a line carries (a traceback excepted): values can come from the wire.
MAX_VALUE_CHARS: Final = 512
#: What JSON leaves as it is but a terminal would act on (DEL and the C1 controls, CSI among
#: them); the JSON writer escapes the rest of the control characters itself.
_JSON_ESCAPES: Final = {code: f"\\u{code:04x}" for code in range(0x7F, 0xA0)}


def bounded(value: object) -> object:
    """``value`` as it goes into a line: text longer than ``MAX_VALUE_CHARS`` is cut and says
    how much was left out; other values unchanged."""
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return f"{value[:MAX_VALUE_CHARS]}...(+{len(value) - MAX_VALUE_CHARS} chars)"
    return value


def _quote(value: object) -> str:
    text = str(value)
    if text == "" or _UNSAFE.search(text):
        return '"' + text.translate(_ESCAPES) + '"'
    return text


class _EventFormatter(logging.Formatter):
    """The fields of a record: time, level, event (the message), then its ``extra`` fields."""

    _second = -1
    _second_text = ""

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        second = int(record.created)
        if second != self._second:  # the date and time change once a second, not per line
            self._second_text = self.formatTime(record, "%Y-%m-%dT%H:%M:%S")
            self._second = second
        fields: dict[str, Any] = {
            "ts": f"{self._second_text}.{int(record.msecs):03d}",
            "level": record.levelname.lower(),
            "event": bounded(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                fields[key] = bounded(value)
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return fields


class LogfmtFormatter(_EventFormatter):
    def format(self, record: logging.LogRecord) -> str:
        # The fields of ``fields`` in one pass, without the dict (a line per registration and
        # authentication: this is on the connect path).
        parts = [
            self._timestamp(record.created, int(record.msecs)),
            f"level={_LEVELS.get(record.levelname) or _quote(record.levelname.lower())}",
            f"event={_quote(bounded(record.getMessage()))}",
        ]
        _append_pairs(
            parts,
            (kv for kv in vars(record).items() if kv[0] not in _RESERVED and kv[0][:1] != "_"),
        )
        if record.exc_info:
            parts.append(f"exception={_quote(self.formatException(record.exc_info))}")
        return " ".join(parts)

    def line(self, created: float, level: str, event: str, fields: dict[str, object]) -> str:
        """What ``format`` makes of a record of ``event`` at ``level`` (a lower-case level
        name) with ``fields`` as its extra, created at ``created``, without the record."""
        quoted = _EVENTS.get(event)
        if quoted is None:
            quoted = _quote(bounded(event))
            if len(_EVENTS) < MAX_EVENTS:
                _EVENTS[event] = quoted
        head = (
            f"{self._timestamp(created, int((created - int(created)) * 1000))} level={level} "
            f"event={quoted}"
        )
        pairs = _plain_pairs(fields)
        if pairs is not None:
            return head + pairs
        parts = [head]
        _append_pairs(parts, fields.items())
        return " ".join(parts)

    def _timestamp(self, created: float, msecs: int) -> str:
        second = int(created)
        if second != self._second:  # the date and time change once a second, not per line
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(created))
            self._second = second
        return f"ts={self._second_text}.{msecs:03d}"


#: Events as ``line`` writes them (a handful of fixed names, quoted once).
_EVENTS: dict[str, str] = {}
MAX_EVENTS: Final = 256


def _append_pairs(parts: list[str], items: Iterable[tuple[str, object]]) -> None:
    for key, value in items:
        text = cast(str, bounded(value)) if isinstance(value, str) else str(value)
        if text and not _UNSAFE.search(text):
            parts.append(f"{key}={text}")
        else:
            parts.append(f'{key}="{text.translate(_ESCAPES)}"')


def _plain_pairs(fields: dict[str, object]) -> str | None:
    """`` key=value`` for each field, when every value is an int or text that needs neither
    quotes nor cutting (the fields of a connection's lines: one search for all of them instead
    of one per value); None otherwise (``_append_pairs`` then writes them)."""
    pairs: list[str] = []
    texts: list[str] = []
    for key, value in fields.items():
        kind = type(value)
        if kind is str:
            text = cast(str, value)
            if not text or len(text) > MAX_VALUE_CHARS:
                return None
            texts.append(text)
        elif kind is not int:  # bool, enums, ...: written as ``_append_pairs`` writes them
            return None
        pairs.append(f" {key}={value}")
    if _UNSAFE.search("".join(texts)):
        return None
    return "".join(pairs)


_LEVELS: Final = {name: name.lower() for name in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")}


class JsonFormatter(_EventFormatter):
    """One JSON object per line; values JSON has no type for are written as text."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.fields(record), ensure_ascii=False, default=str).translate(
            _JSON_ESCAPES
        )


FORMATTERS: Final[dict[str, type[_EventFormatter]]] = {
    "logfmt": LogfmtFormatter,
    "json": JsonFormatter,
}


def configure(level: str = "info", log_format: str = "logfmt") -> logging.Logger:
    """Send the gateway's logs to stderr in ``log_format`` (``FORMATTERS``) from ``level`` up;
    calling it again changes both."""
    # Nothing here prints where a call was made, or from which thread or process: skip the work
    # of finding out for every record (the logging module's documented switches).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logger = logging.getLogger(LOGGER_NAME)
    handler = next((h for h in logger.handlers if isinstance(h.formatter, _EventFormatter)), None)
    if handler is None:
        handler = BatchedStreamHandler(sys.stderr)
        logger.addHandler(handler)
        logger.propagate = False
    if isinstance(handler, BatchedStreamHandler):
        handler.write_pending()  # in the format they were logged in
    handler.setFormatter(FORMATTERS[log_format]())
    global _direct  # noqa: PLW0603 (one logging set-up per process)
    _direct = None
    if log_format == "logfmt" and isinstance(handler, BatchedStreamHandler):
        _direct = handler
    logger.setLevel(level.upper())
    return logger


#: The handler ``configure`` set up when it writes logfmt (the one ``info`` may write to itself).
_direct: BatchedStreamHandler | None = None


def info(logger: logging.Logger, event: str, fields: dict[str, object]) -> None:
    """``logger.info(event, extra=fields)``, the same line for less work: when the logger
    writes logfmt through ``configure``'s handler alone, the line is made from ``fields``
    and written without a ``LogRecord`` and the handler chain (a few lines per connection
    are on the connect path), with the other such lines of this loop iteration
    (``gateway.server.logbatch``). In any other set-up (JSON, handlers or filters added, as
    tests do), through ``logging`` as usual."""
    handler = _direct
    if (
        handler is None
        or not logger.isEnabledFor(logging.INFO)
        or logger.propagate
        or logger.filters
        or handler.filters
        or len(logger.handlers) != 1
        or logger.handlers[0] is not handler
        or handler.level > logging.INFO
    ):
        logger.info(event, extra=fields)
        return
    handler.add(time.time(), event, fields)


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)
