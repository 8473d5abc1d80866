"""Structured logs: one line per event on stderr, phone and device in each line that concerns a
terminal. Two formats of the same fields: logfmt (``key=value`` pairs, the default, for people)
and JSON (one object per line, for log shippers). Secrets never reach a log call (auth codes are
not passed in).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, Final

LOGGER_NAME: Final = "jt808"
_RESERVED: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)))


def _quote(value: object) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' ="\n'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class _EventFormatter(logging.Formatter):
    """The fields of a record: time, level, event (the message), then its ``extra`` fields."""

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                fields[key] = value
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return fields


class LogfmtFormatter(_EventFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{key}={_quote(value)}" for key, value in self.fields(record).items())


class JsonFormatter(_EventFormatter):
    """One JSON object per line; values JSON has no type for are written as text."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.fields(record), ensure_ascii=False, default=str)


FORMATTERS: Final[dict[str, type[_EventFormatter]]] = {
    "logfmt": LogfmtFormatter,
    "json": JsonFormatter,
}


def configure(level: str = "info", log_format: str = "logfmt") -> logging.Logger:
    """Send the gateway's logs to stderr in ``log_format`` (``FORMATTERS``) from ``level`` up;
    calling it again changes both."""
    logger = logging.getLogger(LOGGER_NAME)
    handler = next((h for h in logger.handlers if isinstance(h.formatter, _EventFormatter)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        logger.addHandler(handler)
        logger.propagate = False
    handler.setFormatter(FORMATTERS[log_format]())
    logger.setLevel(level.upper())
    return logger


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)
