"""An acknowledgement means "stored": a terminal's report is in the event log before its
0x8001 leaves, and while the log cannot be written the terminal is not acknowledged (it keeps
the report and sends it again), the gateway says so once, keeps serving, and recovers."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import anyio
import pytest

from gateway.auth.insecure import AcceptAllAuthBackend
from gateway.hub import LocationReported
from gateway.protocol import V2013, ResultCode
from gateway.protocol.bodies.general import PlatformGeneralResponse
from gateway.protocol.bodies.location import AdditionalInfo, QueryLocation, QueryLocationResponse
from gateway.protocol.ids import MessageId
from gateway.server.gateway import Gateway
from gateway.store.base import StoreUnavailableError
from gateway.store.log import LogStore
from gateway.store.sqlite_log import LOG_NAME
from tests.protocol.null_modem import location
from tests.store.stored import stored_locations
from tests.timeouts import HANG_GUARD

from .harness import StartGateway, address_of, connection_of, drain, metric
from .mounts import NOT_ROOT, remount, small_tmpfs
from .terminal_client import TerminalClient

pytestmark = pytest.mark.anyio

#: How long a withheld acknowledgement is waited for (it must not come).
SILENCE_S = 0.5


def stored_serials(gateway: Gateway) -> list[int]:
    return [int(row[6] or 0) for row in stored_locations(gateway.config.data_dir)]


async def test_a_report_is_in_the_log_when_its_acknowledgement_arrives(gateway: Gateway) -> None:
    assert isinstance(gateway.store, LogStore)  # the default: --durability fsync
    with anyio.fail_after(HANG_GUARD), gateway.hub.subscribe(terminal_events=False) as live:
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            await terminal.log_in()
            await terminal.send(terminal.terminal.location(speed=33.0))
            serial = terminal.terminal.last_serial
            await terminal.expect_general_response(
                MessageId.LOCATION_REPORT, ResultCode.SUCCESS, reply_serial=serial
            )
            assert stored_serials(gateway) == [serial]
            (event,) = await drain(live)  # subscribers had it before the terminal's ack
            assert isinstance(event, LocationReported)
            assert event.sequence > 0


async def test_while_the_log_fails_reports_are_not_acknowledged_and_it_recovers(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    store = gateway.store
    assert isinstance(store, LogStore)
    caplog.set_level(logging.INFO, logger="jt808")
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            await terminal.log_in()
            store.fail_writes(True)
            for speed in (1.0, 2.0):
                await terminal.send(terminal.terminal.location(speed=speed))
            await terminal.quiet(SILENCE_S)  # no 0x8001: the device keeps both reports
            # Everything else is still served: a heartbeat is answered.
            await terminal.send(terminal.terminal.heartbeat())
            await terminal.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)
            assert metric(gateway, "jt808_log_unstored_events_total") == 2
            assert metric(gateway, "jt808_acks_withheld_total") >= 1
            assert metric(gateway, "jt808_log_failures_total") == 1
            assert metric(gateway, "jt808_log_healthy") == 0
            store.fail_writes(False)
            await terminal.send(terminal.terminal.location(speed=3.0))  # the device resends
            serial = terminal.terminal.last_serial
            await terminal.expect_general_response(
                MessageId.LOCATION_REPORT, ResultCode.SUCCESS, reply_serial=serial
            )
            assert metric(gateway, "jt808_log_healthy") == 1
    assert stored_serials(gateway) == [serial]
    failed = [r for r in caplog.records if "event log write failed" in r.getMessage()]
    recovered = [r for r in caplog.records if "event log writes again" in r.getMessage()]
    assert (len(failed), len(recovered)) == (1, 1)  # once per change, not per report
    assert failed[0].levelno == logging.ERROR


@pytest.mark.gateway(durability="memory")
async def test_with_durability_memory_nothing_is_written(gateway: Gateway) -> None:
    async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
        await terminal.log_in()
        await terminal.send(terminal.terminal.location())
        await terminal.expect_general_response(MessageId.LOCATION_REPORT, ResultCode.SUCCESS)
    assert not (gateway.config.data_dir / LOG_NAME).exists()


# --------------------------------------------------------------------------------------------
# A real full disk: the data dir on a small tmpfs (needs the right to mount, as CI's root has)


@pytest.mark.skipif(NOT_ROOT, reason="mounting a tmpfs needs root")
async def test_a_full_disk_withholds_acknowledgements_until_there_is_room_again(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    bulky = [AdditionalInfo(0xE1, bytes(200))]  # a vendor item: ~250 bytes a report
    async with (
        small_tmpfs(tmp_path / "data", "256k") as data_dir,
        start_gateway(data_dir=data_dir, auth=AcceptAllAuthBackend()) as gateway,
        TerminalClient.connect(address_of(gateway), V2013) as terminal,
    ):
        store = gateway.store
        await terminal.log_in()
        with anyio.fail_after(HANG_GUARD * 2):
            while store.status().healthy:  # report until the disk is full
                await terminal.send(terminal.terminal.location(extras=bulky))
                with anyio.move_on_after(0.2):
                    await terminal.expect_general_response(
                        MessageId.LOCATION_REPORT, ResultCode.SUCCESS
                    )
            unfit = terminal.terminal.last_serial
            answered: list[int] = []  # late acks of earlier reports may still come
            with anyio.move_on_after(SILENCE_S):
                while True:
                    _, ack = await terminal.expect(PlatformGeneralResponse)
                    answered.append(ack.reply_serial)
            assert unfit not in answered  # the report that did not fit is not acknowledged
            assert metric(gateway, "jt808_log_unstored_events_total") >= 1
            remount(data_dir, "size=4m")
            await terminal.send(terminal.terminal.location(extras=bulky))
            serial = terminal.terminal.last_serial
            await terminal.expect_general_response(
                MessageId.LOCATION_REPORT, ResultCode.SUCCESS, reply_serial=serial
            )
            assert store.status().healthy
        assert serial in stored_serials(gateway)


async def test_a_position_answering_a_query_is_logged_and_streamed(gateway: Gateway) -> None:
    here = location(latitude=39.908722, longitude=116.397499, speed=0.0)
    with anyio.fail_after(HANG_GUARD), gateway.hub.subscribe(terminal_events=False) as live:
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            await terminal.log_in()
            connection = connection_of(gateway, terminal.phone)
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(
                    partial(connection.send_command, QueryLocation(), timeout=HANG_GUARD)
                )
                asked, _ = await terminal.expect(QueryLocation)
                answer = QueryLocationResponse(reply_serial=asked.header.serial, location=here)
                await terminal.send(terminal.terminal.frame(answer))
            event = await live.receive()
    assert isinstance(event, LocationReported)
    assert (event.msg_id, event.location) == (MessageId.QUERY_LOCATION_RESPONSE, here)
    assert stored_serials(gateway) == [event.serial]


async def test_a_data_dir_the_log_cannot_use_stops_the_start_with_one_sentence(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("", encoding="utf-8")
    with pytest.raises(StoreUnavailableError, match=r"^it is a file, not a directory$"):
        async with start_gateway(data_dir=a_file, auth=AcceptAllAuthBackend()):
            pass


@pytest.mark.skipif(NOT_ROOT, reason="mounting a tmpfs needs root")
async def test_a_read_only_data_dir_at_start_withholds_acknowledgements_until_it_is_writable(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    # The gateway starts on a data dir it cannot write (a read-only mount: the log cannot even
    # be created), serves the terminal edge, acknowledges nothing while the log is missing,
    # and opens it by itself once the mount is writable again.
    async with small_tmpfs(tmp_path / "data", "4m") as data_dir:
        remount(data_dir, "ro")
        async with (
            start_gateway(data_dir=data_dir, auth=AcceptAllAuthBackend()) as gateway,
            TerminalClient.connect(address_of(gateway), V2013) as terminal,
        ):
            assert not gateway.store.status().healthy
            await terminal.send(terminal.terminal.registration())
            await terminal.quiet(SILENCE_S)  # its event cannot be stored: no answer
            remount(data_dir, "rw")
            with anyio.fail_after(HANG_GUARD):
                while not gateway.store.status().healthy:
                    await anyio.sleep(0.05)
                await terminal.log_in()  # the terminal tries again
                await terminal.send(terminal.terminal.location(speed=12.0))
                serial = terminal.terminal.last_serial
                await terminal.expect_general_response(
                    MessageId.LOCATION_REPORT, ResultCode.SUCCESS, reply_serial=serial
                )
            assert serial in stored_serials(gateway)
