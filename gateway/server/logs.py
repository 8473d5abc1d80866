"""Structured logs: one line per event on stderr, phone and device in each line that concerns a
terminal. Two formats of the same fields: logfmt (``key=value`` pairs, the default, for people)
and JSON (one object per line, for log shippers). Secrets never reach a log call (auth codes are
not passed in).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Final

from . import logline
from .logbatch import BatchedStreamHandler
from .logline import bounded

LOGGER_NAME: Final = "jt808"
_RESERVED: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)))


#: What JSON leaves as it is but a terminal would act on (DEL and the C1 controls, CSI among
#: them); the JSON writer escapes the rest of the control characters itself.
_JSON_ESCAPES: Final = {code: f"\\u{code:04x}" for code in range(0x7F, 0xA0)}
#: The text of a logfmt line is made in ``logline`` (compiled: see there); these are its names.
MAX_VALUE_CHARS: Final = logline.MAX_VALUE_CHARS
_quote: Final = logline.quote
_append_pairs: Final = logline.append_pairs


class _EventFormatter(logging.Formatter):
    """The fields of a record: time, level, event (the message), then its ``extra`` fields."""

    def __init__(self) -> None:
        super().__init__()
        self._stamps = logline.Stamps(self.converter)

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "ts": self._stamps.stamp(record.created, int(record.msecs)),
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
        # The fields of ``fields`` in one pass, without the dict.
        parts = [
            "ts=" + self._stamps.stamp(record.created, int(record.msecs)),
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
        return logline.line(self._stamps, created, level, event, fields)

    def lines(
        self, level: str, pending: list[tuple[float, str, dict[str, object]]], terminator: str
    ) -> str:
        """``line`` of each of ``pending`` (when, event, fields), each ended by
        ``terminator``: one text, made in one call (``logbatch``: once per loop iteration)."""
        return logline.lines(self._stamps, level, pending, terminator)


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
