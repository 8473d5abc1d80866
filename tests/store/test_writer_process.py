"""The writer process and its channel: messages survive any cut of the byte stream, a writer
that dies is noticed at once (its batches not acknowledged, the loss logged and counted) and
replaced, the bytes in flight are bounded, and a writer whose gateway died stops by itself."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from gateway.hub import EventHub
from gateway.server.config import ConfigError, GatewayConfig, load
from gateway.store import channel
from gateway.store.base import Durability
from gateway.store.log import LogStore
from gateway.store.log_process import ProcessLogStore, log_store_type
from gateway.store.rows import pack
from gateway.store.sqlite_log import OPEN_MARK
from tests.store.test_log_store import Waiter, append, open_store, position, read_all
from tests.timeouts import HANG_GUARD

pytestmark = pytest.mark.anyio


def test_messages_come_out_whole_however_the_bytes_are_cut() -> None:
    messages: list[channel.Message] = [
        (channel.BATCH, 7, [1, 2, "013900000001", bytearray(b"\x00\x01")], [(1, None, "x")]),
        (channel.DRILL, True),
        (channel.STOP,),
    ]
    stream = b"".join(channel.frame(message) for message in messages)
    expected = [(channel.BATCH, 7, [1, 2, "013900000001", b"\x00\x01"], [(1, None, "x")]),
                (channel.DRILL, True), (channel.STOP,)]  # fmt: skip
    for cut in (1, 3, 4, 5, 17, len(stream)):
        unframer = channel.Unframer()
        received: list[channel.Message] = []
        for start in range(0, len(stream), cut):
            received += unframer.feed(stream[start : start + cut])
        assert received == expected


def test_garbage_on_the_channel_is_an_error_not_a_message() -> None:
    with pytest.raises(channel.ChannelError):
        channel.Unframer().feed(b"\x03\x00\x00\x00\xff\xff\xff")
    with pytest.raises(channel.ChannelError):
        channel.Unframer().feed(b"\xff\xff\xff\xff")  # longer than any message
    with pytest.raises(channel.ChannelError):
        channel.Unframer().feed(channel.frame(()))  # an empty tuple is not a message


def stop_writer(store: ProcessLogStore) -> int:
    pid = store.writer_pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    return pid


async def wait_for(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(HANG_GUARD):
        while not condition():
            await anyio.sleep(0.01)


async def test_a_killed_writer_is_noticed_its_batch_not_acked_and_a_new_one_continues(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    health: list[bool] = []
    store = open_store(tmp_path, on_health=lambda healthy, _: health.append(healthy))
    assert isinstance(store, ProcessLogStore)
    await store.start()
    first = position(serial=1)
    assert await append(store, first)
    # Stopped, the writer cannot answer: the next batch is in flight when it is killed.
    pid = stop_writer(store)
    waiter = Waiter()
    lost = position(serial=2)
    batch = store.append(lost)
    store.notify(waiter, batch)
    await anyio.sleep(0)
    os.kill(pid, signal.SIGKILL)
    assert not await waiter.settled(batch)  # not acknowledged: the device resends
    assert store.writer_losses == 1
    assert health[0] is False
    died = [r for r in caplog.records if "writer process died" in r.getMessage()]
    assert len(died) == 1 and died[0].levelno == logging.ERROR
    await wait_for(lambda: store.writer_pid not in (None, pid))  # a new writer
    kept = position(serial=3)
    assert await append(store, kept)
    assert health == [False, True]
    assert kept.sequence > first.sequence  # never a sequence again, whatever the dead one did
    stored = await read_all(store)
    assert [e.serial for e in stored if isinstance(e, type(first))] in ([1, 3], [1, 2, 3])
    await store.aclose()


async def test_the_signals_of_a_stop_are_the_gateways_to_obey_not_the_writers(
    tmp_path: Path,
) -> None:
    # Ctrl-C at a terminal signals the whole process group, and a service manager's stop every
    # process of the service: the writer outlives both until the gateway has written its last
    # batches and told it to stop.
    store = open_store(tmp_path)
    assert isinstance(store, ProcessLogStore)
    await store.start()
    pid = store.writer_pid
    assert pid is not None
    os.kill(pid, signal.SIGINT)
    os.kill(pid, signal.SIGTERM)
    assert await append(store, position(serial=1))  # stored by the same writer
    assert (store.writer_pid, store.writer_losses) == (pid, 0)
    await store.aclose()
    assert not (tmp_path / OPEN_MARK).exists()  # and closed cleanly


#: A stand-in gateway: starts a writer, waits until it opened the log (so it is past its
#: start-up), says its pid, and waits to be killed.
_PARENT = """
import socket, subprocess, sys, time
from gateway.store import channel
ours, theirs = socket.socketpair()
writer = subprocess.Popen([sys.executable, "-m", "gateway.store.writer", str(theirs.fileno())],
                          pass_fds=(theirs.fileno(),))
ours.sendall(channel.frame((channel.OPEN, sys.argv[1], "os", 1 << 20, None, None, 100, 0.0)))
unframer, received = channel.Unframer(), []
while not received:
    received += unframer.feed(ours.recv(65536))
assert received[0][0] == channel.READY
print(writer.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
async def test_a_writer_dies_with_its_gateway_even_when_it_cannot_read_its_socket(
    tmp_path: Path,
) -> None:
    # Stopped (as stalled on its disk) it would never see its socket close: the kernel kills it.
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert parent.stdout is not None
    try:
        writer = int(await anyio.to_thread.run_sync(parent.stdout.readline))
        os.kill(writer, signal.SIGSTOP)
        parent.kill()
        with anyio.fail_after(HANG_GUARD):
            while _alive(writer):
                await anyio.sleep(0.02)
    finally:
        parent.kill()
        parent.wait()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (or is stopped): not gone, not a zombie awaiting its reaper."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_writer_process_loads_sqlite_not_the_protocol_core() -> None:
    # Every gateway starts one: what it imports is start-up time and memory, once per start.
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, gateway.store.writer; "
         "print(sorted(m for m in sys.modules if m.startswith('gateway.')))"],
        capture_output=True, text=True, check=True, timeout=HANG_GUARD,
    ).stdout  # fmt: skip
    assert "gateway.store.sqlite_log" in loaded
    assert "gateway.protocol" not in loaded
    assert "gateway.store.blob'" not in loaded  # compiled with the core: loading it loads it


async def test_batches_past_the_bytes_in_flight_are_refused_not_queued(tmp_path: Path) -> None:
    store = ProcessLogStore(tmp_path, EventHub(), durability=Durability.OS, max_in_flight_bytes=1)
    await store.start()
    pid = stop_writer(store)
    held, refused = Waiter(), Waiter()
    first = store.append(position(serial=1))
    store.notify(held, first)
    await anyio.sleep(0)  # sealed and sent: its bytes are in flight
    second = store.append(position(serial=2))
    store.notify(refused, second)
    assert not await refused.settled(second)  # at once, the writer still stopped
    assert held.done == []
    os.kill(pid, signal.SIGCONT)
    assert await held.settled(first)
    await store.aclose()


async def test_a_failing_write_in_the_writer_is_reported_and_recovers(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    await store.start()
    appended = position(serial=1)
    store.append(appended)
    store.fail_writes(True)  # seals the open batch first: that one is still written
    assert not await append(store, position(serial=2))
    assert not store.status().healthy
    store.fail_writes(False)
    assert await append(store, position(serial=3))
    assert store.status().healthy
    assert [e.sequence for e in await read_all(store)] == [1, 2]
    await store.aclose()


async def test_a_writer_whose_gateway_died_stops_and_leaves_the_log_to_be_checked(
    tmp_path: Path,
) -> None:
    ours, theirs = socket.socketpair()
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.store.writer", str(theirs.fileno())],
        pass_fds=(theirs.fileno(),),
    )
    theirs.close()
    ours.sendall(channel.frame((channel.OPEN, str(tmp_path), "os", 1 << 20, None, None, 100, 0.0)))
    unframer = channel.Unframer()
    received: list[channel.Message] = []
    with anyio.fail_after(HANG_GUARD):
        while not received:
            received += unframer.feed(await anyio.to_thread.run_sync(ours.recv, 65536))
    assert received[0][0] == channel.READY
    ours.sendall(channel.frame((channel.BATCH, 1, pack([[position(serial=1)]]))))
    ours.close()  # as when the gateway is killed
    with anyio.fail_after(HANG_GUARD):
        assert await anyio.to_thread.run_sync(process.wait) == 0
    assert (tmp_path / OPEN_MARK).exists()  # not closed cleanly: the next start checks it


def test_the_writer_is_a_process_unless_log_writer_says_thread() -> None:
    assert GatewayConfig().log_writer == "process"
    assert log_store_type(GatewayConfig().log_writer) is ProcessLogStore
    config = load(environ={"JT808_LOG_WRITER": "thread"})
    assert log_store_type(config.log_writer) is LogStore
    with pytest.raises(ConfigError, match="JT808_LOG_WRITER: 'fork' is not one of thread, process"):
        load(environ={"JT808_LOG_WRITER": "fork"})
