"""The two log formats: logfmt for people (the default), JSON for log shippers; the same fields
in both, one line per event."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from gateway.server.logs import LOGGER_NAME, JsonFormatter, LogfmtFormatter, configure


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The gateway logger writing to a buffer; its handlers restored afterwards."""
    logger = logging.getLogger(LOGGER_NAME)
    saved = (list(logger.handlers), logger.level, logger.propagate)
    logger.handlers.clear()
    buffer = io.StringIO()
    configure("debug")
    handler = logger.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved


def log_an_event() -> None:
    logging.getLogger(LOGGER_NAME).info(
        "registration",
        extra={"phone": "013912345678", "device": "ACME1_TK-1 T1", "result": "SUCCESS"},
    )


def test_logfmt_is_the_default_with_quoted_values(captured: io.StringIO) -> None:
    log_an_event()
    line = captured.getvalue()
    assert line.endswith("\n") and line.count("\n") == 1
    assert " level=info event=registration phone=013912345678 " in line
    assert 'device="ACME1_TK-1 T1" result=SUCCESS' in line


def test_json_is_one_object_per_line_with_the_same_fields(captured: io.StringIO) -> None:
    configure("debug", "json")
    log_an_event()
    try:
        raise ValueError("line one\nline two")
    except ValueError:
        logging.getLogger(LOGGER_NAME).exception("failed", extra={"phone": "013912345678"})
    first, second = (json.loads(line) for line in captured.getvalue().splitlines())
    assert set(first) == {"ts", "level", "event", "phone", "device", "result"}
    assert (first["level"], first["event"], first["device"]) == (
        "info", "registration", "ACME1_TK-1 T1",
    )  # fmt: skip
    assert second["event"] == "failed" and "ValueError: line one\nline two" in second["exception"]


def test_configure_again_switches_the_format_without_a_second_handler(
    captured: io.StringIO,
) -> None:
    configure("info", "json")
    configure("warning", "logfmt")
    logger = logging.getLogger(LOGGER_NAME)
    ours = [h for h in logger.handlers if isinstance(h.formatter, LogfmtFormatter | JsonFormatter)]
    assert len(ours) == 1 and isinstance(ours[0].formatter, LogfmtFormatter)
    assert logger.level == logging.WARNING


def test_control_characters_from_a_terminal_are_escaped_in_logfmt() -> None:
    import logging

    from gateway.server.logs import LogfmtFormatter

    record = logging.LogRecord("jt808", logging.INFO, "", 0, "registration", None, None)
    record.device = "M1\r\n\x1b[31mfake=1\x00"
    line = LogfmtFormatter().format(record)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\x00" not in line
    assert 'device="M1\\r\\n\\x1b[31mfake=1\\x00"' in line


def test_logfmt_writes_exactly_the_fields_of_a_record() -> None:
    """The one-pass logfmt line is the formatter's ``fields``, each value quoted: cut text,
    values that are not text, escapes, empty values, an exception."""
    from gateway.server.logs import MAX_VALUE_CHARS, _quote

    formatter = LogfmtFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord("jt808", logging.WARNING, "", 0, "auth %s", ("failed",), exc_info)
    record.phone = "013800000001"
    record.device = "x" * (MAX_VALUE_CHARS + 10)
    record.count = 3
    record.items = ["a b"] * 300  # not text: written whole, as before
    record.empty = ""
    record.quoted = 'say "hi"'
    record._private = "hidden"
    expected = " ".join(f"{k}={_quote(v)}" for k, v in formatter.fields(record).items())
    assert formatter.format(record) == expected
    assert "hidden" not in expected and "(+10 chars)" in expected
