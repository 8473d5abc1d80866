"""Two gateway nodes on one real nats-server: any node answers for every terminal, the newest
connection wins across nodes, and the device registry is the cluster's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import grpc
import pytest

from gateway.protocol.bodies.general import TerminalGeneralResponse
from gateway.protocol.bodies.messaging import TextMessage
from gateway.protocol.errors import ResultCode
from gateway.protocol.versions import V2013
from jt808.gateway.v1 import commands_pb2 as pb
from jt808.gateway.v1 import device_registry_service_pb2 as registry_api
from jt808.gateway.v1 import gateway_service_pb2 as api
from tests.server.terminal_client import TerminalClient
from tests.timeouts import HANG_GUARD

from .helpers import PHONE, listed_on, local_auth_nodes, status_of, terminal_on_a_of_two
from .nats_server import NatsServer

if TYPE_CHECKING:
    pass


@pytest.mark.anyio
async def test_a_command_through_node_b_reaches_the_terminal_on_node_a(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with terminal_on_a_of_two(nats_server, tmp_path) as nodes:
            terminal, via_b = nodes.terminal, nodes.via_b
            listed = await listed_on(via_b, PHONE, "a")
            assert listed.protocol_version == 2013
            session = (await via_b.GetSession(api.GetSessionRequest(phone=PHONE))).session
            assert (session.phone, session.node) == (PHONE, "a")
            assert session.frames_received >= 2  # the owner's own counters, not the directory's

            replies: list[api.SendCommandResponse] = []

            async def send_text() -> None:
                request = api.SendCommandRequest(
                    phone=PHONE, text_message=pb.TextMessage(text="via b")
                )
                replies.append(await via_b.SendCommand(request, timeout=HANG_GUARD))

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(send_text)
                command, text = await terminal.expect(TextMessage)
                assert text.text == "via b"
                await terminal.send(
                    terminal.terminal.frame(
                        TerminalGeneralResponse(
                            reply_serial=command.header.serial, reply_id=command.msg_id, result=0
                        )
                    )
                )
            assert replies[0].command_serial == command.header.serial
            assert replies[0].result == 0


@pytest.mark.anyio
async def test_routed_calls_end_with_the_owners_statuses(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with terminal_on_a_of_two(nats_server, tmp_path) as nodes:
            terminal, via_b = nodes.terminal, nodes.via_b
            await listed_on(via_b, PHONE, "a")
            # The owner's command check, its trailing outcome and its timeout, through b.
            raw = api.SendCommandRequest(phone=PHONE, raw=pb.RawCommand(msg_id=0x0001))
            refused = await status_of(via_b.SendCommand(raw))
            assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
            quiet = api.SendCommandRequest(phone=PHONE, text_message=pb.TextMessage(text="x"))
            quiet.timeout.FromMilliseconds(300)
            unanswered = await status_of(via_b.SendCommand(quiet))
            assert unanswered.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            outcome = dict(unanswered.trailing_metadata() or ())
            assert outcome.get("jt808-command-outcome") == "no-reply"
            unknown = await status_of(via_b.GetSession(api.GetSessionRequest(phone="1")))
            assert unknown.code() == grpc.StatusCode.NOT_FOUND
            # DisconnectSession through b closes the terminal's link on a.
            await via_b.DisconnectSession(api.DisconnectSessionRequest(phone=PHONE))
            await terminal.closed()


@pytest.mark.anyio
async def test_a_terminal_that_moves_to_node_b_closes_its_session_on_node_a(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with terminal_on_a_of_two(nats_server, tmp_path) as nodes:
            a, via_a, b, old = nodes.a, nodes.via_a, nodes.b, nodes.terminal
            await listed_on(via_a, PHONE, "a")
            async with TerminalClient.connect(b.addresses.terminals, V2013, phone=PHONE) as new:
                await new.log_in()
                await old.closed()
                await listed_on(via_a, PHONE, "b")
                assert a.gateway.sessions.get(PHONE) is None
                assert b.gateway.sessions.get(PHONE) is not None


@pytest.mark.anyio
async def test_a_terminal_registered_through_node_a_authenticates_on_node_b(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    device = registry_api.Device(manufacturer_id="SIM", terminal_model="SIM-TK", terminal_id="7")
    with anyio.fail_after(HANG_GUARD):
        async with local_auth_nodes(nats_server, tmp_path, [device]) as (a, b, devices_b):
            listed = await devices_b.ListDevices(registry_api.ListDevicesRequest())
            assert [d.name for d in listed.devices] == ["SIM_SIM-TK_7"]
            fields = {"manufacturer_id": "SIM", "terminal_model": "SIM-TK", "terminal_id": "7"}
            async with TerminalClient.connect(a.addresses.terminals, V2013, phone=PHONE) as first:
                code = await first.log_in(**fields)
            async with TerminalClient.connect(b.addresses.terminals, V2013, phone=PHONE) as again:
                assert await again.authenticate(code) is ResultCode.SUCCESS
            async with TerminalClient.connect(b.addresses.terminals, V2013, phone=PHONE) as wrong:
                assert await wrong.authenticate("not-the-code") is ResultCode.FAILURE
            await devices_b.DeleteDevice(registry_api.DeleteDeviceRequest(name="SIM_SIM-TK_7"))
            async with TerminalClient.connect(a.addresses.terminals, V2013, phone=PHONE) as gone:
                assert await gone.authenticate(code) is ResultCode.FAILURE


def test_a_gateway_without_nats_url_never_imports_nats(tmp_path: Path) -> None:
    script = (
        "import sys\nfrom pathlib import Path\n"
        "from controlplane.app import GatewayApp\n"
        "from gateway.server.config import GatewayConfig\n"
        f"GatewayApp(GatewayConfig(auth='local', data_dir=Path({str(tmp_path)!r})))\n"
        "assert not [m for m in sys.modules if m == 'nats' or m.startswith('nats.')], 'nats'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=HANG_GUARD)
