"""The two log formats: logfmt for people (the default), JSON for log shippers; the same fields
in both, one line per event."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import anyio
import pytest

from gateway.server import logs
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


def test_both_formats_write_the_same_local_time_to_the_millisecond() -> None:
    record = logging.LogRecord("jt808", logging.INFO, "", 0, "registration", None, None)
    record.created, record.msecs = 1_700_000_000.0425, 42.5
    expected = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(1_700_000_000)) + ".042"
    assert json.loads(JsonFormatter().format(record))["ts"] == expected
    assert LogfmtFormatter().format(record).startswith(f"ts={expected} level=info ")


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


def test_info_writes_the_line_logging_would_write(captured: io.StringIO) -> None:
    """``logs.info`` (the connect path's lines, written without a LogRecord) and
    ``logger.info`` write the same line, time stamp aside."""
    logger = logging.getLogger(LOGGER_NAME)
    fields: dict[str, object] = {
        "phone": "013912345678", "device": "ACME1_TK-1 T1\r\n", "remote": "", "version": 1,
    }  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:  # the short way: no record is made
        patch.setattr(logger, "handlers", logger.handlers[:1])  # pytest's capture handlers
        patch.setattr(logger, "makeRecord", None)
        logs.info(logger, "registration", fields)
    logger.info("registration", extra=fields)
    fast, usual = captured.getvalue().splitlines()
    assert fast.split(" ", 1)[1] == usual.split(" ", 1)[1]
    assert fast.split(" ", 1)[1] == (
        'level=info event=registration phone=013912345678 device="ACME1_TK-1 T1\\r\\n" '
        'remote="" version=1'
    )


def test_info_line_equals_the_formatted_record() -> None:
    formatter = LogfmtFormatter()
    record = logging.LogRecord("jt808", logging.INFO, "", 0, "authenticated", None, None)
    record.created, record.msecs = 1_700_000_000.0425, 42.0
    record.phone = "013800000001"
    record.remote = "127.0.0.1:4000"
    fields: dict[str, object] = {"phone": "013800000001", "remote": "127.0.0.1:4000"}
    line = formatter.line(1_700_000_000.0425, "info", "authenticated", fields)
    assert line == formatter.format(record)
    assert ".042 level=info" in line


def test_info_goes_through_logging_in_any_other_set_up(captured: io.StringIO) -> None:
    """JSON, a level above info, an added handler or filter: ``logs.info`` is
    ``logger.info``."""
    logger = logging.getLogger(LOGGER_NAME)
    configure("debug", "json")
    logs.info(logger, "authenticated", {"phone": "013800000001"})
    assert json.loads(captured.getvalue())["event"] == "authenticated"
    configure("warning", "logfmt")
    logs.info(logger, "authenticated", {"phone": "013800000001"})
    assert captured.getvalue().count("\n") == 1
    configure("info", "logfmt")
    seen: list[logging.LogRecord] = []

    def keep(record: logging.LogRecord) -> bool:
        seen.append(record)
        return True

    logger.addFilter(keep)
    try:
        logs.info(logger, "disconnected", {"phone": "013800000001", "reason": "peer_closed"})
    finally:
        logger.filters.clear()
    assert [r.getMessage() for r in seen] == ["disconnected"]
    assert captured.getvalue().splitlines()[-1].endswith("phone=013800000001 reason=peer_closed")


@pytest.mark.anyio
async def test_info_lines_of_a_loop_iteration_are_written_together_in_call_order(
    captured: io.StringIO,
) -> None:
    """On the event loop, ``logs.info`` lines wait for the end of the iteration (one write for
    all of them); a record logged the usual way meanwhile writes them first, so the order of
    lines is the order of calls."""
    logger = logging.getLogger(LOGGER_NAME)
    configure("info")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(logger, "handlers", logger.handlers[:1])  # pytest's capture handlers
        logs.info(logger, "registration", {"phone": "013800000001", "result": "SUCCESS"})
        logs.info(logger, "authenticated", {"phone": "013800000001", "version": 1})
        assert captured.getvalue() == ""  # still this iteration
        logger.warning("auth backend unavailable", extra={"phone": "013800000002"})
        logs.info(logger, "disconnected", {"phone": "013800000001", "reason": "peer_closed"})
    events = [
        line.split(" event=")[1].split(" phone=")[0] for line in captured.getvalue().splitlines()
    ]
    assert events == ["registration", "authenticated", '"auth backend unavailable"']
    await anyio.sleep(0)  # the iteration ends
    lines = captured.getvalue().splitlines()
    assert len(lines) == 4 and lines[-1].endswith("phone=013800000001 reason=peer_closed")


@pytest.mark.anyio
async def test_pending_info_lines_are_written_by_a_flush(captured: io.StringIO) -> None:
    """``logging.shutdown`` flushes every handler at exit: no pending line is lost."""
    logger = logging.getLogger(LOGGER_NAME)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(logger, "handlers", logger.handlers[:1])  # pytest's capture handlers
        logs.info(logger, "disconnected", {"phone": "013800000001", "reason": "server_shutdown"})
        assert captured.getvalue() == ""
        logger.handlers[0].flush()
    assert captured.getvalue().endswith("phone=013800000001 reason=server_shutdown\n")
