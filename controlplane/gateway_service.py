"""``jt808.gateway.v1.GatewayService``: commands, live streams and sessions over gRPC.

Runs on the data plane's event loop: a command is handed to the terminal's connection and the
handler waits on the reply like any other task; streams read the event hub's bounded per-
subscriber queues, so a slow client costs its own queue (and a gap marker), never the gateway.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import TYPE_CHECKING, Any, Final

import grpc

from gateway.hub import Gap, HubEvent, TerminalEvent
from gateway.protocol.commands import CommandFailed
from gateway.protocol.header import phone_key
from gateway.protocol.session import CloseReason
from gateway.server.connection import TerminalConnection
from gateway.server.gateway import Gateway
from gateway.store.base import ReadFilter
from gateway.store.follow import follow
from jt808.gateway.v1 import gateway_service_pb2 as api
from jt808.gateway.v1 import gateway_service_pb2_grpc as api_grpc

from .location_wire import location_responses
from .status import (
    MAX_COMMAND_TIMEOUT,
    ApiError,
    api_error_of,
    checked_phone,
    command_failed,
    invalid,
    stream_errors,
    terminal_not_found,
    unary_errors,
)
from .views import KIND_OF_API, event_message, session_message

if TYPE_CHECKING:  # the stubs are generic, the runtime classes are not
    Context = grpc.aio.ServicerContext[Any, Any]

#: Most locations one stream response carries (``StreamLocationsRequest.max_batch``).
MAX_STREAM_BATCH: Final = 1000
#: The largest ``after_sequence`` a stream accepts. The log keeps sequences as SQLite integers
#: (signed 64-bit) and a replay asks for the one after it: a larger value would fail deep in
#: the read instead of being refused here, and no gateway numbers anywhere near it.
MAX_AFTER_SEQUENCE: Final = 2**63 - 2


class GatewayServicer(api_grpc.GatewayServiceServicer):
    def __init__(self, gateway: Gateway, *, stream_queue: int | None = None) -> None:
        self.gateway = gateway
        self.stream_queue = stream_queue  # per-subscriber queue; None: the hub's default

    # ----------------------------------------------------------------------------------------
    # Commands

    @unary_errors
    async def SendCommand(
        self, request: api.SendCommandRequest, context: Context
    ) -> api.SendCommandResponse:
        phone = checked_phone(request.phone)
        timeout = self._command_timeout(request)
        # Lazy: the command builders and replies import the bodies of every command, which an
        # idle gateway does not need (gateway.protocol.bodies.LAZY).
        from .commands import command_body  # noqa: PLC0415
        from .replies import fill_reply  # noqa: PLC0415

        body, msg_id = command_body(request)
        connection = self._connection(phone)
        started = self.gateway.clock()
        outcome = "refused"
        try:
            result = await connection.run_command(body, timeout=timeout, msg_id=msg_id)
        except Exception as error:
            mapped = api_error_of(error, phone=phone, msg_id=msg_id)
            if mapped is None:
                outcome = "error"
                raise
            raise mapped from None
        else:
            ended = result.outcome
            outcome = ended.reason.name.lower() if isinstance(ended, CommandFailed) else "answered"
        finally:
            self.gateway.metrics.commands.labels(f"0x{msg_id:04X}", outcome).observe(
                self.gateway.clock() - started
            )
        if isinstance(result.outcome, CommandFailed):
            raise command_failed(phone, result.outcome)
        response = api.SendCommandResponse(
            command_serial=result.serial, retransmissions=result.retransmissions
        )
        fill_reply(
            response,
            result.outcome.reply,
            phone=connection.phone,
            device_name=connection.device_name,
            received_at=self.gateway.wall_clock(),
        )
        return response

    def _command_timeout(self, request: api.SendCommandRequest) -> float:
        if not request.HasField("timeout"):
            return self.gateway.config.command_timeout
        duration = request.timeout  # not via timedelta: it overflows on absurd durations
        seconds = duration.seconds + duration.nanos / 1e9
        if not 0 < seconds <= MAX_COMMAND_TIMEOUT:
            raise invalid(
                "timeout", f"{seconds:g} s is outside (0, {MAX_COMMAND_TIMEOUT:g}] seconds"
            )
        return seconds

    # ----------------------------------------------------------------------------------------
    # Streams

    @stream_errors
    async def StreamLocations(  # type: ignore[override]  # serialized responses: see the docstring
        self, request: api.StreamLocationsRequest, context: Context
    ) -> AsyncIterator[bytes]:
        """Yields serialized ``StreamLocationsResponse``s (the server registers this method with
        a pass-through serializer): each location is encoded once, for every subscriber."""
        phones = [checked_phone(p, f"phones[{i}]") for i, p in enumerate(request.phones)]
        max_batch = min(request.max_batch, MAX_STREAM_BATCH)
        only = ReadFilter(frozenset(map(phone_key, phones)), terminal_events=False)
        after = await self._resume_point(request)
        with self._counted("locations"):
            async for items in self._follow(phones, only, after, max_batch):
                for response in location_responses(items, max_batch):
                    yield response
        raise _shutting_down()

    @stream_errors
    async def StreamEvents(
        self, request: api.StreamEventsRequest, context: Context
    ) -> AsyncIterator[api.StreamEventsResponse]:
        phones = [checked_phone(p, f"phones[{i}]") for i, p in enumerate(request.phones)]
        kinds = set()
        for index, value in enumerate(request.kinds):
            kind = KIND_OF_API.get(value)
            if kind is None:
                raise invalid(f"kinds[{index}]", f"{value} is not an event kind")
            kinds.add(kind)
        only = ReadFilter(frozenset(map(phone_key, phones)), locations=False)
        after = await self._resume_point(request)
        with self._counted("events"):
            async for items in self._follow(phones, only, after, MAX_STREAM_BATCH):
                for item in items:
                    if isinstance(item, Gap):
                        yield api.StreamEventsResponse(gap=api.Gap(dropped=item.dropped))
                    elif isinstance(item, TerminalEvent) and (not kinds or item.kind in kinds):
                        yield api.StreamEventsResponse(event=event_message(item))
        raise _shutting_down()

    def _follow(
        self, phones: list[str], only: ReadFilter, after: int | None, max_batch: int
    ) -> AsyncIterator[list[HubEvent | Gap]]:
        gateway = self.gateway
        return follow(gateway.hub, gateway.store, phones, only, after=after,
                      max_batch=max_batch, max_queue=self.stream_queue)  # fmt: skip

    async def _resume_point(
        self, request: api.StreamLocationsRequest | api.StreamEventsRequest
    ) -> int | None:
        """The sequence to replay after: ``after_sequence``, or the one ``start_time`` gives;
        None: live only."""
        if request.HasField("after_sequence"):
            after = request.after_sequence
            if after > MAX_AFTER_SEQUENCE:
                raise invalid(
                    "after_sequence",
                    f"{after} is beyond any sequence (at most {MAX_AFTER_SEQUENCE})",
                )
            return after
        if request.HasField("start_time"):
            try:
                moment = request.start_time.ToDatetime(tzinfo=UTC)
            except (ValueError, OverflowError):
                raise invalid("start_time", "is not a valid time") from None
            return await self.gateway.store.sequence_at(moment)
        return None

    # ----------------------------------------------------------------------------------------
    # Sessions

    @unary_errors
    async def ListSessions(
        self, request: api.ListSessionsRequest, context: Context
    ) -> api.ListSessionsResponse:
        connections = sorted(self.gateway.sessions.all(), key=lambda c: c.phone)
        return api.ListSessionsResponse(
            sessions=[session_message(self.gateway, c) for c in connections]
        )

    @unary_errors
    async def GetSession(
        self, request: api.GetSessionRequest, context: Context
    ) -> api.GetSessionResponse:
        connection = self._connection(checked_phone(request.phone))
        return api.GetSessionResponse(session=session_message(self.gateway, connection))

    @unary_errors
    async def DisconnectSession(
        self, request: api.DisconnectSessionRequest, context: Context
    ) -> api.DisconnectSessionResponse:
        connection = self._connection(checked_phone(request.phone))
        await connection.close(CloseReason.DISCONNECT_REQUESTED)
        return api.DisconnectSessionResponse()

    @contextmanager
    def _counted(self, stream: str) -> Iterator[None]:
        gauge = self.gateway.metrics.stream_subscribers.labels(stream)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()

    def _connection(self, phone: str) -> TerminalConnection:
        connection = self.gateway.sessions.get(phone)
        if connection is None:
            raise terminal_not_found(phone)
        return connection


def _shutting_down() -> ApiError:
    return ApiError(grpc.StatusCode.UNAVAILABLE, "the gateway is shutting down; reconnect later")
