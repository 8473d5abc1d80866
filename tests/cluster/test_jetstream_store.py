"""The cluster's event store on JetStream: a terminal is acknowledged only once JetStream stored
its report, StreamLocations on any node carries the whole cluster's traffic once, a replay reads
from a stream sequence, and a killed node loses nothing it acknowledged."""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

import anyio
import nats
import pytest
from nats.js.client import JetStreamContext

from controlplane.cluster_store import JetStreamStore
from gateway.protocol.bodies.general import PlatformGeneralResponse
from gateway.protocol.ids import MessageId
from gateway.protocol.versions import V2013
from gateway.server.config import HostPort
from gateway.store.base import ReadFilter
from jt808.gateway.v1 import gateway_service_pb2 as api
from jt808.gateway.v1 import location_pb2
from tests.controlplane.harness import read_items
from tests.server.terminal_client import TerminalClient
from tests.server.test_serve_command import clean_environment, serving
from tests.timeouts import HANG_GUARD

from .helpers import PHONE, listed_on, node, report, terminal_on_a, terminal_on_a_of_two
from .nats_server import NatsServer, free_port

REPORTS: Final = 5


async def stored_locations(url: str) -> list[location_pb2.Location]:
    """Every location the stream holds, oldest first."""
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        info = await js.stream_info("JT808")
        subscription = await js.subscribe("jt808.loc.>", ordered_consumer=True)
        found: list[location_pb2.Location] = []
        total = info.state.messages
        seen = 0
        while seen < total:
            message = await subscription.next_msg(timeout=HANG_GUARD)
            seen = message.metadata.sequence.stream
            found.append(location_pb2.Location.FromString(message.data))
            if message.metadata.num_pending == 0:
                break
        return found
    finally:
        await client.close()


@pytest.mark.anyio
async def test_stream_locations_on_node_b_delivers_node_a_reports_once(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with terminal_on_a_of_two(nats_server, tmp_path) as nodes:
            b, via_b, terminal = nodes.b, nodes.via_b, nodes.terminal
            call = via_b.StreamLocations(api.StreamLocationsRequest(phones=[PHONE]))
            with anyio.fail_after(HANG_GUARD):
                while b.gateway.hub.stats.subscribers < 1:  # the stream call is live
                    await anyio.sleep(0.01)
            for _ in range(REPORTS):
                await report(terminal)
            items: list[api.StreamLocationsResponse] = await read_items(call, REPORTS)
            call.cancel()
    locations = [item.location for item in items]
    assert [loc.phone for loc in locations] == [PHONE] * REPORTS
    sequences = [loc.sequence for loc in locations]
    assert sequences == sorted(set(sequences))  # each once, in stream order


@pytest.mark.anyio
async def test_a_replay_reads_the_cluster_from_a_stream_sequence(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with terminal_on_a_of_two(nats_server, tmp_path) as nodes:
            b, terminal = nodes.b, nodes.terminal
            for _ in range(REPORTS):
                await report(terminal)
            store = b.gateway.store
            assert isinstance(store, JetStreamStore)
            only = ReadFilter(locations=True, terminal_events=False)
            everything = await store.read(0, 100, only)
            later = await store.read(everything.events[1].sequence, 100, only)
    assert len(everything.events) == REPORTS and not everything.more
    assert [e.sequence for e in later.events] == [e.sequence for e in everything.events[2:]]


@pytest.mark.anyio
async def test_while_nats_is_down_reports_are_not_acknowledged_and_then_they_are(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with terminal_on_a(nats_server, tmp_path) as (_, terminal):
            nats_server.stop()
            await terminal.send(terminal.terminal.location())
            await terminal.quiet(1.0)  # no acknowledgement: nothing is stored
            nats_server.start()
            while True:  # the terminal sends again until it is acknowledged
                await terminal.send(terminal.terminal.location())
                try:
                    _, ack = await terminal.expect(PlatformGeneralResponse, timeout=2.0)
                except TimeoutError:
                    continue
                if ack.reply_id == MessageId.LOCATION_REPORT:
                    break
    assert any(loc.phone == PHONE for loc in await stored_locations(nats_server.url))


Restore = Callable[[], Awaitable[object]]


async def stream_full(js: JetStreamContext) -> Restore:
    """The stream takes no more messages: JetStream answers with an error PubAck."""
    import nats.js.api

    config = (await js.stream_info("JT808")).config
    full = (await js.stream_info("JT808")).state.messages
    await js.update_stream(config.evolve(max_msgs=full, discard=nats.js.api.DiscardPolicy.NEW))
    return lambda: js.update_stream(config)


async def stream_gone(js: JetStreamContext) -> Restore:
    """No stream holds the subjects: NATS answers "no responders"."""
    config = (await js.stream_info("JT808")).config
    await js.delete_stream("JT808")
    return lambda: js.add_stream(config)


@pytest.mark.anyio
@pytest.mark.parametrize("refuse", [stream_full, stream_gone])
async def test_a_report_jetstream_does_not_store_is_not_acknowledged(
    nats_server: NatsServer,
    tmp_path: Path,
    refuse: Callable[[JetStreamContext], Awaitable[Restore]],
) -> None:
    """A refused message settles its batch as not stored; once JetStream stores again, the
    terminal is acknowledged again."""
    with anyio.fail_after(HANG_GUARD):
        async with terminal_on_a(nats_server, tmp_path, reported=True) as (a, terminal):
            client = await nats.connect(nats_server.url)
            try:
                restore = await refuse(client.jetstream())
                await terminal.send(terminal.terminal.location())
                await terminal.quiet(1.0)  # no acknowledgement
                assert a.gateway.store.status().unstored >= 1
                await restore()
                await report(terminal)
            finally:
                await client.close()


@pytest.mark.anyio
async def test_a_killed_node_loses_nothing_it_acknowledged(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    terminals = HostPort("127.0.0.1", free_port())
    acknowledged = 0
    with anyio.fail_after(HANG_GUARD):
        async with (
            node(nats_server, tmp_path, "b") as (_, via_b),
            serving(
                "--nats-url", nats_server.url, "--node-id", "a", "--listen", str(terminals),
                "--auth", "insecure-accept-all", "--data-dir", str(tmp_path / "a"),
                environment=clean_environment(),
            ) as a,
            TerminalClient.connect(terminals, V2013, phone=PHONE) as terminal,
        ):  # fmt: skip
            await terminal.log_in()
            await listed_on(via_b, PHONE, "a")
            for _ in range(REPORTS):
                await report(terminal)
                acknowledged += 1
            a.process.send_signal(signal.SIGKILL)
            await terminal.closed()
    stored = await stored_locations(nats_server.url)
    assert len([loc for loc in stored if loc.phone == PHONE]) == acknowledged


@pytest.mark.anyio
async def test_stream_locations_resumes_after_a_stream_sequence_on_another_node(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with terminal_on_a_of_two(nats_server, tmp_path) as nodes:
            via_b, terminal = nodes.via_b, nodes.terminal
            for _ in range(REPORTS):
                await report(terminal)
            first = api.StreamLocationsRequest(phones=[PHONE], after_sequence=0)
            call = via_b.StreamLocations(first)
            replayed: list[api.StreamLocationsResponse] = await read_items(call, REPORTS)
            call.cancel()
            sequences = [item.location.sequence for item in replayed]
            resumed = via_b.StreamLocations(
                api.StreamLocationsRequest(phones=[PHONE], after_sequence=sequences[1])
            )
            rest: list[api.StreamLocationsResponse] = await read_items(resumed, REPORTS - 2)
            resumed.cancel()
    assert [item.location.sequence for item in rest] == sequences[2:]
