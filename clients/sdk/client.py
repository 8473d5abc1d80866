"""``GatewayClient``: the gateway's gRPC API as plain async Python.

    async with GatewayClient("127.0.0.1:50051", token=None) as gateway:
        reply = await gateway.send_text("013800000000", "hello")
        async for location in gateway.locations():
            print(location.phone, location.latitude, location.longitude)

Messages are the generated ``jt808.gateway.v1`` types; every failure is a ``GatewayError``
subclass (see ``clients.sdk.errors``). One client holds one channel and may be used by many
tasks at once on its event loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import grpc

from gateway.protocol.errors import ResultCode
from jt808.gateway.v1 import commands_pb2, device_registry_service_pb2, location_pb2
from jt808.gateway.v1 import device_registry_service_pb2_grpc as registry_grpc
from jt808.gateway.v1 import gateway_service_pb2 as api
from jt808.gateway.v1 import gateway_service_pb2_grpc as api_grpc

from . import commands
from .commands import Command, ParameterValue
from .errors import GatewayError, GatewayUnavailableError, InvalidRequestError, error_from_rpc
from .streams import LiveStream

DEFAULT_GATEWAY: Final = "127.0.0.1:50051"
#: Environment variables the command line and ``GatewayClient.from_env`` read.
GATEWAY_ENV: Final = "JT808_GATEWAY"
TOKEN_ENV: Final = "JT808_GRPC_TOKEN"
#: How long a first connection may take before the gateway counts as unreachable.
CONNECT_TIMEOUT_S: Final = 10.0
#: Extra time the gRPC deadline of a command gives the gateway to report its own timeout.
_DEADLINE_MARGIN_S: Final = 5.0
#: Deadline of calls that are not commands or streams.
CALL_TIMEOUT_S: Final = 30.0

Device = device_registry_service_pb2.Device


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """A TLS channel: trust ``ca_file`` (the system's roots when ``None``), present a client
    certificate when ``cert_file`` and ``key_file`` are given, and check the server's
    certificate against ``server_name`` instead of the target's host when set."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    server_name: str | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        if (self.cert_file is None) != (self.key_file is None):
            raise InvalidRequestError("a client certificate needs both its cert and key files")
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_file),
            private_key=_read(self.key_file),
            certificate_chain=_read(self.cert_file),
        )


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as error:
        raise InvalidRequestError(f"cannot read {path}: {error.strerror or error}") from None


class GatewayClient:
    """An async client of ``GatewayService`` and ``DeviceRegistryService``.

    ``target`` is ``HOST:PORT`` of the gateway's control plane; ``token`` is sent as
    ``authorization: Bearer <token>`` on every call; ``tls`` makes the channel TLS. Use it as an
    async context manager, or call ``close()``.
    """

    def __init__(
        self,
        target: str = DEFAULT_GATEWAY,
        *,
        token: str | None = None,
        tls: TlsOptions | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.target = target
        self.connect_timeout = connect_timeout
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        options: list[tuple[str, str | int]] = [
            ("grpc.enable_retries", 1),
            ("grpc.max_receive_message_length", 64 << 20),
        ]
        if tls is not None and tls.server_name:
            options.append(("grpc.ssl_target_name_override", tls.server_name))
        if tls is None:
            self.channel = grpc.aio.insecure_channel(target, options=options)
        else:
            self.channel = grpc.aio.secure_channel(target, tls.credentials(), options=options)
        self.gateway = api_grpc.GatewayServiceStub(self.channel)
        self.registry = registry_grpc.DeviceRegistryServiceStub(self.channel)

    @classmethod
    def from_env(cls, target: str | None = None, *, token: str | None = None) -> GatewayClient:
        """A client of ``target`` or ``$JT808_GATEWAY`` (default 127.0.0.1:50051) with
        ``token`` or ``$JT808_GRPC_TOKEN``."""
        return cls(
            target or os.environ.get(GATEWAY_ENV) or DEFAULT_GATEWAY,
            token=token if token is not None else os.environ.get(TOKEN_ENV) or None,
        )

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(
        self,
        error_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return f"GatewayClient({self.target!r})"

    async def close(self) -> None:
        await self.channel.close()

    async def wait_until_ready(self, timeout: float | None = None) -> None:
        """Until the channel is connected; ``GatewayUnavailableError`` after ``timeout``
        seconds (the client's ``connect_timeout`` by default)."""
        limit = self.connect_timeout if timeout is None else timeout
        try:
            await asyncio.wait_for(self._first_connection(), limit)
        except TimeoutError:
            raise GatewayUnavailableError(
                f"cannot reach the gateway at {self.target} (no connection within {limit:g} s)",
                code=grpc.StatusCode.UNAVAILABLE,
            ) from None

    async def _first_connection(self) -> None:
        """Until READY; a failed attempt (refused, unresolvable) fails at once instead of
        being retried, so a wrong address is reported without waiting."""
        state = self.channel.get_state(try_to_connect=True)
        while state is not grpc.ChannelConnectivity.READY:
            if state is grpc.ChannelConnectivity.TRANSIENT_FAILURE:
                raise GatewayUnavailableError(
                    f"cannot reach the gateway at {self.target} (connection failed)",
                    code=grpc.StatusCode.UNAVAILABLE,
                )
            await self.channel.wait_for_state_change(state)
            state = self.channel.get_state(try_to_connect=True)

    # ----------------------------------------------------------------------------------------
    # Commands

    async def send(
        self, phone: str, command: Command, *, timeout: float | None = None
    ) -> api.SendCommandResponse:
        """Send any command message and return the terminal's reply.

        ``timeout`` bounds the wait for the reply, retransmissions included (the gateway's
        ``--command-timeout`` when ``None``). A terminal that answers "failure" or
        "unsupported" is a reply (``result`` says so), not an error. Raises
        ``TerminalNotConnectedError``, ``NoReplyError``, ``TerminalDisconnectedError``,
        ``InvalidRequestError``, ``TooManyCommandsError`` or ``GatewayUnavailableError``.
        """
        request = commands.command_request(phone, command, timeout=timeout)
        deadline = None if timeout is None else timeout + _DEADLINE_MARGIN_S
        reply: api.SendCommandResponse = await self._call(
            self.gateway.SendCommand, request, timeout=deadline
        )
        return reply

    async def send_text(
        self,
        phone: str,
        text: str,
        *,
        flags: int = 0b100,
        text_type: int = 0,
        timeout: float | None = None,
    ) -> api.SendCommandResponse:
        """0x8300: show ``text`` on the terminal (``flags`` bit 2 display, bit 3 TTS read-out;
        ``text_type`` 1 notice, 2 service information, 2019 only)."""
        message = commands_pb2.TextMessage(flags=flags, text_type=text_type, text=text)
        return await self.send(phone, message, timeout=timeout)

    async def query_location(
        self, phone: str, *, timeout: float | None = None
    ) -> location_pb2.Location:
        """0x8201: the terminal's current position (its 0x0201 reply)."""
        reply = await self.send(phone, commands_pb2.QueryLocation(), timeout=timeout)
        return _typed(reply, "location", phone).location

    async def query_parameters(
        self, phone: str, keys: Iterable[int | str] = (), *, timeout: float | None = None
    ) -> list[commands_pb2.Parameter]:
        """0x8106 for the given parameters (names or ids), 0x8104 for all when none are given;
        the terminal's values (``commands.parameter_value`` types them)."""
        reply = await self.send(phone, commands.query_parameters(keys), timeout=timeout)
        return list(_typed(reply, "parameters", phone).parameters.parameters)

    async def set_parameters(
        self,
        phone: str,
        values: Mapping[int | str, ParameterValue],
        *,
        timeout: float | None = None,
    ) -> api.SendCommandResponse:
        """0x8103: ``{"heartbeat_interval": 30, 0x0013: "host:port", ...}``."""
        return await self.send(phone, commands.set_parameters(values), timeout=timeout)

    async def terminal_control(
        self,
        phone: str,
        command: int | str,
        parameters: Sequence[str] = (),
        *,
        timeout: float | None = None,
    ) -> api.SendCommandResponse:
        """0x8105: ``"reset"``, ``"factory-reset"``, ``"connect-server"`` ... or a number."""
        message = commands.terminal_control(command, parameters)
        return await self.send(phone, message, timeout=timeout)

    async def query_attributes(
        self, phone: str, *, timeout: float | None = None
    ) -> commands_pb2.TerminalAttributes:
        """0x8107: the terminal's model, ids, firmware and radio capabilities."""
        reply = await self.send(phone, commands_pb2.QueryAttributes(), timeout=timeout)
        return _typed(reply, "attributes", phone).attributes

    async def send_raw(
        self, phone: str, msg_id: int, body: bytes = b"", *, timeout: float | None = None
    ) -> api.SendCommandResponse:
        """Any platform message id (0x8000-0xFFFF) with the body bytes given."""
        return await self.send(phone, commands.raw_command(msg_id, body), timeout=timeout)

    # ----------------------------------------------------------------------------------------
    # Streams

    def locations(
        self,
        phones: Iterable[str] = (),
        *,
        reconnect: bool = True,
        wait_for_gateway: bool = False,
        on_gap: Callable[[int], None] | None = None,
        on_reconnect: Callable[[GatewayError], None] | None = None,
    ) -> LiveStream[api.StreamLocationsRequest, location_pb2.Location]:
        """Live positions of every terminal, or of ``phones``: ``async for location in ...``.

        ``on_gap(dropped)`` hears of positions lost because the reader fell behind;
        ``on_reconnect(error)`` of each reconnection. ``wait_for_gateway`` waits for a gateway
        that is not up yet instead of failing at once.
        """
        return LiveStream(
            self._open_stream(self.gateway.StreamLocations),
            api.StreamLocationsRequest(phones=list(phones)),
            target=self.target,
            connected=None if wait_for_gateway else self.wait_until_ready,
            reconnect=reconnect,
            on_gap=on_gap,
            on_reconnect=on_reconnect,
        )

    def events(
        self,
        phones: Iterable[str] = (),
        kinds: Iterable[api.EventKind.ValueType] = (),
        *,
        reconnect: bool = True,
        wait_for_gateway: bool = False,
        on_gap: Callable[[int], None] | None = None,
        on_reconnect: Callable[[GatewayError], None] | None = None,
    ) -> LiveStream[api.StreamEventsRequest, api.Event]:
        """Session events and terminal messages, optionally of ``phones`` and ``kinds``
        (``api.EVENT_KIND_AUTHENTICATED`` ...); the options are those of ``locations``."""
        return LiveStream(
            self._open_stream(self.gateway.StreamEvents),
            api.StreamEventsRequest(phones=list(phones), kinds=list(kinds)),
            target=self.target,
            connected=None if wait_for_gateway else self.wait_until_ready,
            reconnect=reconnect,
            on_gap=on_gap,
            on_reconnect=on_reconnect,
        )

    def _open_stream(self, method: Any) -> Any:
        def open_stream(request: Any, wait_for_ready: bool) -> Any:
            return method(request, metadata=self._metadata, wait_for_ready=wait_for_ready)

        return open_stream

    # ----------------------------------------------------------------------------------------
    # Sessions

    async def list_sessions(self) -> list[api.Session]:
        """Every authenticated terminal session, by phone."""
        response = await self._call(self.gateway.ListSessions, api.ListSessionsRequest())
        return list(response.sessions)

    async def get_session(self, phone: str) -> api.Session:
        """One terminal's session; ``TerminalNotConnectedError`` when it is not connected."""
        response: api.GetSessionResponse = await self._call(
            self.gateway.GetSession, api.GetSessionRequest(phone=phone)
        )
        return response.session

    async def disconnect(self, phone: str) -> None:
        """Close a terminal's connection (it may reconnect and authenticate again)."""
        await self._call(self.gateway.DisconnectSession, api.DisconnectSessionRequest(phone=phone))

    # ----------------------------------------------------------------------------------------
    # Device registry (gateways running --auth local)

    async def import_devices(self, devices: Iterable[Device] = (), *, csv: str = "") -> int:
        """Add or update devices (messages, and/or CSV text as ``jt808 devices import``
        reads it), all or nothing; returns how many were written."""
        request = device_registry_service_pb2.ImportDevicesRequest(devices=list(devices), csv=csv)
        response: device_registry_service_pb2.ImportDevicesResponse = await self._call(
            self.registry.ImportDevices, request
        )
        return response.imported

    async def list_devices(self) -> list[Device]:
        request = device_registry_service_pb2.ListDevicesRequest()
        response = await self._call(self.registry.ListDevices, request)
        return list(response.devices)

    async def delete_device(self, name: str) -> None:
        """Delete a device by name and revoke its auth codes."""
        request = device_registry_service_pb2.DeleteDeviceRequest(name=name)
        await self._call(self.registry.DeleteDevice, request)

    async def reset_device(self, name: str) -> None:
        """Revoke a device's auth codes so that it may register again (after a factory reset);
        the device stays, and a session it has open goes on until it disconnects.
        ``TerminalNotConnectedError`` when there is no device of that name."""
        request = device_registry_service_pb2.ResetDeviceRequest(name=name)
        await self._call(self.registry.ResetDevice, request)

    # ----------------------------------------------------------------------------------------

    async def _call(self, method: Any, request: Any, *, timeout: float | None = None) -> Any:
        try:
            return await method(request, metadata=self._metadata, timeout=timeout or CALL_TIMEOUT_S)
        except grpc.RpcError as error:
            raise error_from_rpc(error, self.target) from None


def _typed(reply: api.SendCommandResponse, field: str, phone: str) -> api.SendCommandResponse:
    """``reply`` when it carries ``field``; a terminal that answered with a general reply
    instead (failure, unsupported) raises ``GatewayError`` naming its result."""
    if reply.WhichOneof("reply") == field:
        return reply
    raise GatewayError(
        f"terminal {phone} answered 0x{reply.reply_msg_id:04X} with result "
        f"{reply.result} ({result_text(reply.result)}) instead of its {field}"
    )


def result_text(result: int) -> str:
    """A terminal's general-reply result code in words ("success", "unsupported" ...)."""
    try:
        return ResultCode(result).name.lower().replace("_", " ")
    except ValueError:
        return f"result {result}"
