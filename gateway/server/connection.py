"""One terminal connection: a stream protocol around a sans-I/O ``TerminalSession``.

``data_received`` runs the session synchronously on the chunk it was given, publishes what the
terminal reported, and writes every reply the chunk produced in one ``transport.write``. Nothing
awaits on that path. Only decisions that need the outside world await: a registration,
authentication or logout goes to the auth backend in a task of its own, with reading paused
until the answer is in (the session reads no further frame before it either). Commands from the
control plane await their reply on a future.

Acknowledgements mean "stored": every event a chunk produced is appended to the gateway's
event store, and what the chunk made the session answer is held back until the store says the
batch holding those events is written (``batch_done``); when it could not be written, the
acknowledgements are withheld, so the terminal keeps its data and sends it again. Everything
the connection writes afterwards queues behind held replies, so the terminal sees them in order.

Flow control comes from the transport: when the terminal stops reading and the write buffer
passes its high-water mark, ``pause_writing`` stops reading from that terminal too, and if the
buffer has not drained within ``send_timeout`` the connection is dropped. Timers (idle and
authentication deadlines, retransmissions, reassembly) live in the gateway's one deadline queue,
not in a task per connection. No exception from one terminal escapes this module.

This module is compiled with the protocol core (``gateway.native``): every handshake and every
chunk read runs through it. A compiled class cannot subclass ``asyncio.Protocol``, so
``TerminalConnection`` does not: it has the protocol's methods, which is all uvloop and asyncio
call (``gateway.server.gateway.as_protocol`` hands it to them).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, cast

from gateway.auth.base import (
    AuthBackendUnavailableError,
    AuthenticationDecision,
    AuthenticationRequest,
    RegistrationDecision,
    RegistrationRequest,
    device_name_of,
)
from gateway.hub import EventKind, LocationReported, TerminalEvent
from gateway.protocol.bodies.location import LocationBatch, LocationReport, location_reports
from gateway.protocol.bodies.registration import RegisterResult
from gateway.protocol.body import Body
from gateway.protocol.commands import (
    CommandAnswered,
    CommandEvent,
    CommandFailed,
    CommandFailure,
    TooManyPendingCommandsError,
)
from gateway.protocol.errors import FrameTooLargeError
from gateway.protocol.header import Header
from gateway.protocol.ids import MessageId
from gateway.protocol.message import Message
from gateway.protocol.session import (
    AuthenticationReceived,
    CloseReason,
    Decision,
    FrameRejected,
    LogoutReceived,
    MessageReceived,
    MessageRefused,
    RegistrationReceived,
    SessionClosed,
    SessionEvent,
    SessionState,
    TerminalAuthenticated,
    TerminalLoggedOut,
    TerminalRegistered,
    TerminalSession,
)
from gateway.protocol.subpackage import PartialMessageDropped, ReassemblyLimitError

from . import eager, logs, takeover, tls_terminals
from .logs import get_logger

if TYPE_CHECKING:
    from gateway.tls.server import TlsPeer

    from .gateway import Gateway

#: Session ends that mean a configured limit was hit (for jt808_limit_hits_total).
_LIMIT_OF_CLOSE: Final = {
    CloseReason.AUTHENTICATION_FAILED: "max_authentication_attempts",
    CloseReason.AUTHENTICATION_TIMEOUT: "authentication_timeout",
    CloseReason.IDLE_TIMEOUT: "idle_timeout",
    CloseReason.TOO_MANY_REFUSED: "max_refused_messages",
    CloseReason.UNRECOVERABLE_STREAM: "max_bad_frames",
}
#: Bytes a connection may receive while reading is paused for a decision (a transport can
#: deliver what it already holds); past this it is dropped. Before authentication a terminal
#: has no reason to send more than its next small frame.
MAX_HELD_BYTES: Final = 64 * 1024
MAX_HELD_BYTES_UNAUTHENTICATED: Final = 4 * 1024
#: Kinds of per-frame events whose first on a connection is logged at its level (bit flags).
_REJECTED: Final = 1
_REFUSED: Final = 2
_DROPPED: Final = 4
#: How long a connection closed from outside may take to flush before it is aborted.
CLOSE_GRACE: Final = 1.0
_DECISIONS: Final = frozenset({RegistrationReceived, AuthenticationReceived, LogoutReceived})
T = TypeVar("T")
log = get_logger()
#: What a terminal is answered when the backend gave no decision, or its certificate does not
#: match: refusals, told apart by identity for the log lines (made once, not per handshake).
_NO_REGISTRATION: Final = RegistrationDecision(RegisterResult.TERMINAL_NOT_FOUND)
_NO_AUTHENTICATION: Final = AuthenticationDecision(False)
_CERTIFICATE_MISMATCH: Final = AuthenticationDecision(False)


class _Rest(Generic[T]):
    """A backend call that suspended in its first step (``_ask``), and when it was put."""

    def __init__(self, suspended: eager.Suspended[T], started: float) -> None:
        self.suspended = suspended
        self.started = started


@dataclass(frozen=True, slots=True)
class CommandResult:
    """How a command ended, the serial it was sent with, and how often it was retransmitted."""

    outcome: CommandEvent
    serial: int
    retransmissions: int


class TerminalConnection:
    __slots__ = (
        "_admitted",
        "_announced",
        "_batch",
        "_close_when_sent",
        "_closed",
        "_code_batch",
        "_code_phone",
        "_decision",
        "_dropped",
        "_finished",
        "_held",
        "_held_bytes",
        "_held_out",
        "_noted",
        "_reading_paused",
        "_received_at",
        "_waiters",
        "_write_paused_at",
        "authenticated_wall",
        "connected_wall",
        "gateway",
        "remote_address",
        "session",
        "tls_peer",
        "transport",
    )

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.transport: asyncio.Transport | None = None
        self.remote_address = ""
        self.session = TerminalSession(
            gateway.session_limits,
            now=gateway.clock(),
            utc_now=gateway.wall_clock,
            rsa=gateway.platform_key,
            reassembly_budget=gateway.reassembly_budget,
        )
        #: A terminal over TLS: its protocol and (mutual TLS) verified certificate.
        self.tls_peer: TlsPeer | None = None
        #: Wall-clock times for the API (the session itself runs on the monotonic clock).
        self.connected_wall = gateway.wall_clock()
        self.authenticated_wall: datetime | None = None
        self._waiters: dict[int, asyncio.Future[CommandEvent | None]] = {}
        self._decision: Decision | None = None
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._reading_paused = False
        self._write_paused_at: float | None = None
        self._received_at: datetime | None = None
        self._announced = False
        #: Given a slot by admission (a refused connection has no session to report on).
        self._admitted = False
        #: Made only when someone waits for the close (``close``): most connections end
        #: without anyone waiting, and a future each would cost every handshake.
        self._closed: asyncio.Future[None] | None = None
        self._finished = False
        #: The store batch holding this step's events (0: none; -1: the store refused one).
        self._batch = 0
        #: Replies waiting for their batch to be stored: (batch, bytes, needs it stored).
        self._held_out: deque[tuple[int, bytes, bool]] = deque()
        self._close_when_sent = False
        #: The batch of the REGISTERED event whose 0x8100 carries a new auth code (0: none).
        #: Not stored, that reply is withheld, so the code is revoked (``_revoke_undelivered``).
        self._code_batch = 0
        self._code_phone = ""
        #: Per-frame event kinds already logged once on this connection (``_level_of``), and
        #: sub-packaged messages dropped.
        self._noted = 0
        self._dropped = 0

    @property
    def phone(self) -> str:
        return self.session.phone or ""

    @property
    def device_name(self) -> str:
        return self.session.device_name

    # ----------------------------------------------------------------------------------------
    # Transport callbacks (each one catches its own errors: see _failed)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.remote_address = self.session.remote_address = _address(peer)
        gateway = self.gateway
        if not gateway.admit(self, _host(peer)):
            # Counted and logged (once a burst) as a limit hit, not as a session that ended:
            # its closing is ours, and no disconnection is reported for it.
            self._finished = True
            transport.close()
            return
        self._admitted = True
        self._rearm()

    def data_received(self, data: bytes) -> None:
        if self._decision is not None:
            self._hold(data)
            return
        try:
            self._received_at = None
            session = self.session
            events = session.receive_data(data, self.gateway.clock())
            if events or not self._announced:
                self._dispatch(events)
            self._after_io(rearm=session.timers_changed)
        except Exception:
            self._failed()
        finally:
            self._received_at = None  # outside a step (a timer, a close) the time is read anew

    def eof_received(self) -> bool | None:
        try:
            self._dispatch(self.session.receive_eof(self.gateway.clock()))
            self._after_io()
        except Exception:
            self._failed()
        return None  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            session = self.session
            if self._admitted and session.state is not SessionState.CLOSED:
                reason = CloseReason.TRANSPORT_ERROR if exc is not None else CloseReason.PEER_CLOSED
                self._dispatch(session.close(reason, self.gateway.clock()))
        except Exception:
            log.exception("connection failed while closing", extra=self._fields())
        finally:
            self._finish()

    def pause_writing(self) -> None:
        # The terminal does not read its replies: read nothing more from it until it does, and
        # give it send_timeout to catch up (the deadline queue checks).
        self._write_paused_at = self.gateway.clock()
        self._update_reading()
        self._rearm()

    def resume_writing(self) -> None:
        self._write_paused_at = None
        self._update_reading()

    def on_timer(self, now: float) -> None:
        """The deadline queue says something may be due (idle, authentication, retransmission,
        reassembly, or the send timeout)."""
        try:
            paused_at = self._write_paused_at
            if paused_at is not None and now >= paused_at + self.gateway.config.send_timeout:
                self._drop_slow_reader()
                return
            events = self.session.handle_timer(now)
            if events:
                self._dispatch(events)
            self._after_io()
        except Exception:
            self._failed()

    # ----------------------------------------------------------------------------------------
    # Life cycle

    def flush(self) -> None:
        """Hand what the session queued to the transport (its buffer; never blocks), or to
        the held replies when they wait for the store."""
        self._send(self.session.data_to_send())

    def _after_io(self, *, rearm: bool = True) -> None:
        """After the session was driven: write its replies, close if it ended, re-arm timers
        (``rearm=False`` when no deadline can have moved earlier: see ``timers_changed``)."""
        session = self.session
        self._send(session.data_to_send())
        if session.state is SessionState.CLOSED:
            transport = self.transport
            if transport is not None and not transport.is_closing():
                if self._held_out:
                    self._close_when_sent = True  # once the held replies are out
                else:
                    transport.close()  # after the buffered replies are written
            return
        if rearm:
            self._rearm()

    def _send(self, data: bytes) -> None:
        """Write ``data`` now, or hold it until the batch of this step's events is stored."""
        batch = self._batch
        self._batch = 0
        transport = self.transport
        if not data or transport is None or transport.is_closing():
            return
        held = self._held_out
        if batch > 0:
            if not held or held[-1][0] != batch:
                self.gateway.store.notify(self, batch)
            held.append((batch, data, True))
        elif batch < 0:  # the store refused an event of this step: no acknowledgement
            self.gateway.metrics.acks_withheld.inc()
            if self._code_batch:
                self._revoke_undelivered()
        elif held:
            held.append((held[-1][0], data, False))  # in order, behind what is held
        else:
            transport.write(data)

    def batch_done(self, batch: int, stored: bool) -> None:
        """The store settled ``batch``: send the replies that waited for it, or (not stored)
        withhold the acknowledgements among them."""
        held = self._held_out
        out: list[bytes] = []
        withheld = 0
        while held and held[0][0] <= batch:
            _, data, needs_store = held.popleft()
            if stored or not needs_store:
                out.append(data)
            else:
                withheld += 1
        if withheld:
            self.gateway.metrics.acks_withheld.inc(withheld)
        code_batch = self._code_batch
        if code_batch and code_batch <= batch:
            if stored:
                self._code_batch = 0
            else:
                self._revoke_undelivered()
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if out:
            transport.write(out[0] if len(out) == 1 else b"".join(out))
        if self._close_when_sent and not held:
            transport.close()

    def _rearm(self) -> None:
        session = self.session
        session.timers_changed = False
        deadline = session.next_deadline()
        if deadline is None:
            return
        paused_at = self._write_paused_at
        if paused_at is not None:
            deadline = min(deadline, paused_at + self.gateway.config.send_timeout)
        self.gateway.timers.schedule(self, deadline)

    def _update_reading(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        paused = self._decision is not None or self._write_paused_at is not None
        if paused == self._reading_paused:
            return
        self._reading_paused = paused
        if paused:
            transport.pause_reading()
        else:
            transport.resume_reading()

    async def close(self, reason: CloseReason) -> None:
        """Close from outside (a newer connection, DisconnectSession, shutdown): the terminal
        gets what is queued for it, within ``CLOSE_GRACE``."""
        self.close_now(reason)
        if self._finished or self.transport is None:
            return
        closed = self._closed
        if closed is None:
            closed = self._closed = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(closed), CLOSE_GRACE)
        except TimeoutError:
            if self.transport is not None:
                self.transport.abort()
            await closed

    def close_now(self, reason: CloseReason) -> None:
        """End the session and start closing the transport (without waiting)."""
        try:
            self._dispatch(self.session.close(reason, self.gateway.clock()))
            self._after_io()
        except Exception:
            self._failed()

    def _drop_slow_reader(self) -> None:
        gateway = self.gateway
        gateway.limit_log.hit(
            "send_timeout", "terminal does not read its replies", **self._fields()
        )
        self._dispatch(self.session.close(CloseReason.TRANSPORT_ERROR, gateway.clock()))
        if self.transport is not None:
            self.transport.abort()

    def _failed(self) -> None:
        """A bug met on this connection's path: it costs this connection only."""
        log.exception("connection failed", extra=self._fields())
        try:
            self._dispatch(self.session.close(CloseReason.TRANSPORT_ERROR, self.gateway.clock()))
        except Exception:
            log.exception("connection failed while closing", extra=self._fields())
        if self.transport is not None:
            self.transport.abort()

    def _finish(self) -> None:
        gateway = self.gateway
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_result(None)
        gateway.release(self)
        self._finished = True
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    def _hold(self, data: bytes) -> None:
        """Bytes that arrived while a decision is pending: kept for after it, within bounds."""
        self._held.append(data)
        self._held_bytes += len(data)
        bound = MAX_HELD_BYTES if self.session.authenticated else MAX_HELD_BYTES_UNAUTHENTICATED
        if self._held_bytes > bound:
            self.gateway.limit_log.hit(
                "held_bytes", "terminal sent too much while awaiting a decision", **self._fields()
            )
            self._dispatch(self.session.close(CloseReason.TRANSPORT_ERROR, self.gateway.clock()))
            if self.transport is not None:
                self.transport.abort()

    # ----------------------------------------------------------------------------------------
    # Commands (the control plane's entry point)

    async def send_command(
        self, body: Body, *, timeout: float, msg_id: int | None = None
    ) -> CommandEvent:
        """Send a command and wait for its reply (``CommandAnswered``) or ``CommandFailed``."""
        return (await self.run_command(body, timeout=timeout, msg_id=msg_id)).outcome

    async def run_command(
        self, body: Body, *, timeout: float, msg_id: int | None = None
    ) -> CommandResult:
        """``send_command`` with the serial the command went out with and its retransmissions.

        Raises ``TooManyPendingCommandsError``, ``SessionNotReadyError`` and ``EncodeError``
        before anything is sent.
        """
        try:
            pending = self.session.send_command(
                body, self.gateway.clock(), timeout=timeout, msg_id=msg_id
            )
        except TooManyPendingCommandsError:
            self.gateway.limit_log.hit(
                "max_pending_commands", "commands refused: too many in flight", **self._fields()
            )
            raise
        waiter: asyncio.Future[CommandEvent | None] = asyncio.get_running_loop().create_future()
        self._waiters[pending.command_id] = waiter
        try:
            self._after_io()
            outcome = await waiter
        finally:
            self._waiters.pop(pending.command_id, None)
        if outcome is None:
            failure = (
                CommandFailure.SESSION_CLOSED if pending.sent else CommandFailure.NOT_DELIVERED
            )
            outcome = CommandFailed(pending.command_id, pending.msg_id, failure, pending.retries)
        return CommandResult(outcome, pending.first_serial, pending.retries)

    # ----------------------------------------------------------------------------------------
    # Session events

    def _dispatch(self, events: list[SessionEvent]) -> None:
        """Act on the session's events. A decision among them (it is the last one: the session
        reads nothing further until it is answered) is put to the auth backend; when the
        backend answers at once, the events of the answer are acted on in this same loop (not
        by recursion: a chunk may hold many decisions), else a task takes it over."""
        while True:
            if not self._announced and self.session.phone:
                # Announced before the events of the frame that revealed the phone, so that a
                # subscriber sees CONNECTED first.
                self._announced = True
                self._publish(EventKind.CONNECTED)
            decision: Decision | None = None
            for event in events:
                kind = type(event)
                if kind is MessageReceived:
                    message = cast(MessageReceived, event).message
                    body = message.body
                    if isinstance(body, LocationReport):  # the bulk of all traffic
                        self._publish_locations(message.header, (body,), None)
                    else:
                        self._deliver(message)
                elif kind in _DECISIONS:
                    decision = cast(Decision, event)
                else:
                    self._note(event)
            if decision is None:
                return
            answered = self._start_decision(decision)
            if answered is None:
                return  # a task finishes it (_finish_decision)
            events = answered

    def _start_decision(self, decision: Decision) -> list[SessionEvent] | None:
        """Ask the backend about ``decision``: the session's events once answered, when the
        backend answered without suspending (the local answer of most backends: no task, no
        timer, reading not paused); None when it suspends, and a task awaits the rest of it
        within the auth deadline while reading from the terminal is paused."""
        self._decision = decision
        try:
            events, suspended = eager.start(self._decide(decision))
        except BaseException:
            self._decision = None
            raise
        if suspended is None:  # answered within this step: its events share its time
            self._decision = None
            if self._reading_paused:  # a write filled the buffer meanwhile: recompute
                self._update_reading()
            return events
        # Suspended at _ask_rest's hand-over: the rest runs in a task.
        self._update_reading()
        self.gateway.spawn(self._finish_decision(suspended))
        return None

    def _decide(self, decision: Decision) -> Coroutine[Any, Any, list[SessionEvent]]:
        """Ask the backend and answer the session: what the answer made it produce (the
        coroutine of the decision's kind itself, not one more around it)."""
        if isinstance(decision, RegistrationReceived):
            return self._register(decision)
        if isinstance(decision, AuthenticationReceived):
            return self._authenticate(decision)
        return self._logout(decision)

    async def _finish_decision(self, work: eager.Suspended[list[SessionEvent]]) -> None:
        """The rest of a decision whose backend suspended (this runs as a task): answer the
        session, act on what follows, and go on reading."""
        try:
            events = await eager.resume(work)
            self._decision = None
            self._received_at = None
            self._dispatch(events)  # may start the next decision
            self._after_io()
            if not self._deciding():
                self._update_reading()
                self._replay_held()
        except Exception:
            self._decision = None
            self._failed()
        finally:
            self._received_at = None

    def _deciding(self) -> bool:
        """A decision is pending. A method, not ``self._decision`` read in place: a caller that
        set it to None and then dispatched would have it narrowed to None, and compiled code
        checks that narrowing (``_dispatch`` may have started the next decision)."""
        return self._decision is not None

    def _replay_held(self) -> None:
        if self._held and self.session.state is not SessionState.CLOSED:
            held = b"".join(self._held)
            self._held.clear()
            self._held_bytes = 0
            self.data_received(held)

    def _note(self, event: SessionEvent) -> None:
        gateway = self.gateway
        metrics = gateway.metrics
        if isinstance(event, CommandAnswered | CommandFailed):
            waiter = self._waiters.get(event.command_id)
            if waiter is not None and not waiter.done():
                waiter.set_result(event)
            if isinstance(event, CommandAnswered):
                # A position that answers a command (0x0201, 0x0500) is a position all the
                # same: logged and streamed like any report.
                reply = event.reply
                reports = location_reports(reply.body)
                if reports:
                    self._publish_locations(reply.header, reports, None)
        elif isinstance(event, TerminalAuthenticated):
            gateway.admission.authenticated(self)
            previous = gateway.sessions.bind(self)
            if previous is not None:
                # Only a connection that presented the credential gets here; without one
                # (insecure-accept-all) anybody can, and the log says so louder.
                level = (
                    logging.WARNING if gateway.auth.name == "insecure-accept-all" else logging.INFO
                )
                log.log(level, "connection replaced by a newer one", extra=previous._fields())
                previous.close_now(CloseReason.REPLACED)
            self.authenticated_wall = self._wall()
            logs.info(log, "authenticated", self._fields(version=int(event.version)))
            self._publish(EventKind.AUTHENTICATED)
        elif isinstance(event, TerminalRegistered):
            # Logged with its result in _register: one line per registration.
            self._publish(EventKind.REGISTERED, device_name=event.device_name)
            if self.gateway.store.defers_acks:
                self._code_batch = self._batch  # -1 (refused) is seen by _send
                self._code_phone = event.phone
        elif isinstance(event, TerminalLoggedOut):
            log.info("logged out", extra=self._fields())
            gateway.sessions.unbind(self)
            self._publish(EventKind.LOGGED_OUT)
        elif isinstance(event, FrameRejected):
            metrics.errors.labels(type(event.error).__name__).inc()
            if isinstance(event.error, FrameTooLargeError):
                gateway.limit_log.hit("max_frame_length", "frames too large", **self._fields())
            elif isinstance(event.error, ReassemblyLimitError):
                limit = f"reassembly_{event.error.limit}"
                gateway.limit_log.hit(limit, "sub-packages refused at a limit", **self._fields())
            if (at := self._level_of(_REJECTED, logging.INFO)) is not None:
                log.log(at, "frame rejected", extra=self._fields(error=str(event.error)))
        elif isinstance(event, MessageRefused):
            metrics.errors.labels("refused").inc()
            if (at := self._level_of(_REFUSED, logging.INFO)) is not None:
                msg_id = f"0x{event.header.msg_id:04X}"
                log.log(
                    at, "message refused", extra=self._fields(msg_id=msg_id, reason=event.reason)
                )
        elif isinstance(event, PartialMessageDropped):
            metrics.reassembly_dropped.labels(event.reason.value).inc()
            self._dropped += 1
            if (at := self._level_of(_DROPPED, logging.WARNING)) is not None:
                log.log(
                    at,
                    "sub-packaged message dropped",
                    extra=self._fields(
                        msg_id=f"0x{event.msg_id:04X}",
                        reason=event.reason.value,
                        received=f"{event.received}/{event.total}",
                    ),
                )
        elif isinstance(event, SessionClosed):
            metrics.disconnects.labels(event.reason.value).inc()
            closed_at = _LIMIT_OF_CLOSE.get(event.reason)
            if closed_at is not None:
                gateway.limit_log.hit(
                    closed_at, "connections closed at a limit", reason=event.reason.value
                )
            logs.info(log, "disconnected", self._fields(reason=event.reason.value, **self._noise()))
            if self._announced:  # a link that never said who it was has nobody to report
                self._publish(EventKind.DISCONNECTED, reason=event.reason.value)

    def _deliver(self, message: Message) -> None:
        header = message.header
        body = message.body
        reports = location_reports(body)
        if reports:
            batch_type = body.type if isinstance(body, LocationBatch) else None
            self._publish_locations(header, reports, batch_type)
            return
        kind = (
            EventKind.TRANSPARENT_DATA
            if header.msg_id == MessageId.UPLINK_PASSTHROUGH
            else EventKind.MESSAGE
        )
        self._publish(kind, message=message)

    def _publish_locations(
        self, header: Header, reports: Iterable[LocationReport], batch_type: int | None
    ) -> None:
        received_at = self._wall()
        store = self.gateway.store
        append = store.append
        session = self.session
        phone = session.phone or ""
        device_name = session.device_name
        msg_id = header.msg_id
        serial = header.serial
        batch = 0
        for report in reports:
            batch = append(
                LocationReported(
                    phone, device_name, report, msg_id, serial, batch_type, received_at
                )
            )
        if store.defers_acks:
            self._appended(batch)

    def _wall(self) -> datetime:
        """The wall-clock time of this step: read once per chunk (or decision answered), not
        per report or event."""
        received_at = self._received_at
        if received_at is None:
            received_at = self._received_at = self.gateway.wall_clock()
        return received_at

    def _appended(self, batch: int) -> None:
        """This step's replies wait for ``batch`` (or are withheld: 0, the store refused)."""
        if self._batch >= 0:
            self._batch = batch if batch else -1

    def _publish(
        self,
        kind: EventKind,
        *,
        reason: str = "",
        message: Message | None = None,
        device_name: str | None = None,
    ) -> None:
        store = self.gateway.store
        batch = store.append(
            TerminalEvent(
                kind,
                self.phone,
                self.device_name if device_name is None else device_name,
                self._wall(),
                self.remote_address,
                reason,
                message,
            )
        )
        if store.defers_acks:
            self._appended(batch)

    # ----------------------------------------------------------------------------------------
    # Decisions (the auth backend)

    async def _register(self, event: RegistrationReceived) -> list[SessionEvent]:
        body = event.body
        phone = event.header.phone
        device_name = device_name_of(body.manufacturer_id, body.terminal_model, body.terminal_id)
        since = takeover.online(self.gateway.sessions, phone, device_name)
        request = RegistrationRequest(
            phone=phone,
            province_id=body.province_id,
            city_id=body.city_id,
            manufacturer_id=body.manufacturer_id,
            terminal_model=body.terminal_model,
            terminal_id=body.terminal_id,
            plate_color=body.plate_color,
            plate=body.plate,
            protocol_version=int(event.header.version),
            remote_address=self.remote_address,
            certificate=tls_terminals.certificate_of(self),
            phone_online_since=since.phone_online_since,
            device_online_since=since.device_online_since,
            device_online_phone=since.device_online_phone,
        )
        no_decision = _NO_REGISTRATION
        if tls_terminals.registration_refused(self, request):
            decision, result = no_decision, "CERTIFICATE_MISMATCH"
        else:
            asked = self._ask("register", self.gateway.auth.register(request), no_decision)
            if isinstance(asked, _Rest):
                decision = await self._ask_rest("register", asked, no_decision)
            else:
                decision = asked
            # Without a decision the terminal is refused all the same, but the log says why.
            result = "NO_DECISION" if decision is no_decision else decision.result.name
        logs.info(log, "registration", self._fields(device=device_name, result=result))
        return self.session.answer_registration(
            event,
            decision.result,
            decision.auth_code,
            self.gateway.clock(),
            device_name=decision.device_name or device_name,
        )

    async def _authenticate(self, event: AuthenticationReceived) -> list[SessionEvent]:
        request = AuthenticationRequest(
            phone=event.header.phone,
            auth_code=event.auth_code,
            imei=event.imei,
            software_version=event.software_version,
            remote_address=self.remote_address,
            certificate=tls_terminals.certificate_of(self),
            phone_online_since=self.gateway.sessions.online_since(event.header.phone),
        )
        no_decision, mismatch = _NO_AUTHENTICATION, _CERTIFICATE_MISMATCH
        if tls_terminals.authentication_refused(self, request.phone, None):
            decision = mismatch
        else:
            asked = self._ask("authenticate", self.gateway.auth.authenticate(request), no_decision)
            if isinstance(asked, _Rest):
                decision = await self._ask_rest("authenticate", asked, no_decision)
            else:
                decision = asked
            if tls_terminals.authentication_refused(self, request.phone, decision):
                decision = mismatch
        if not decision.accepted:
            result = "NO_DECISION" if decision is no_decision else "REFUSED"
            result = "CERTIFICATE_MISMATCH" if decision is mismatch else result
            log.info("authentication refused", extra=self._fields(result=result))
        return self.session.answer_authentication(
            event, decision.accepted, self.gateway.clock(), device_name=decision.device_name
        )

    async def _logout(self, event: LogoutReceived) -> list[SessionEvent]:
        revoked = self._ask("logout", self._revoke(event.header.phone), False)
        if isinstance(revoked, _Rest):
            revoked = await self._ask_rest("logout", revoked, False)
        return self.session.answer_logout(event, self.gateway.clock(), revoked=revoked)

    def _revoke_undelivered(self) -> None:
        """The 0x8100 with a new auth code is withheld (its REGISTERED event was not stored):
        revoke the code, or the registry would answer the terminal's next 0x0100 "already
        registered" without one, and it could never authenticate. Its next registration, once
        the store works again, gets a new code."""
        self._code_batch = 0
        phone = self._code_phone
        log.warning("registration not answered: its event could not be stored; the new auth "
                    "code is revoked", extra=self._fields())  # fmt: skip
        self.gateway.spawn(self._revoke_quietly(phone))

    async def _revoke_quietly(self, phone: str) -> None:
        try:
            await self.gateway.auth.logout(phone)
        except Exception as error:  # the backend's fault: said, not raised in a task
            log.error("revoking an undelivered auth code failed",
                      extra=self._fields(error=repr(error)))  # fmt: skip

    async def _revoke(self, phone: str) -> bool:
        await self.gateway.auth.logout(phone)
        return True

    def _ask(self, operation: str, call: Awaitable[T], failure: T) -> T | _Rest[T]:
        """Put a call to the backend: its answer, or ``failure`` when it failed, when it
        answered within its first step; else the rest of it, for ``_ask_rest``.

        A backend that answers without suspending (most do) costs no timer, no task (see
        ``_start_decision``) and no coroutine around it. One that suspends is handed over to
        a task, where the rest of it runs within ``auth_timeout``."""
        started = self.gateway.clock()
        try:
            result, suspended = eager.start(call)
        except Exception as error:
            return self._no_decision(operation, started, error, failure)
        if suspended is not None:
            return _Rest(suspended, started)
        self._observe(operation, "ok", started)
        return cast(T, result)

    async def _ask_rest(self, operation: str, rest: _Rest[T], failure: T) -> T:
        """Await the rest of a call ``_ask`` started, within the deadline (``failure`` when it
        fails or runs past it)."""
        suspended = rest.suspended
        try:
            try:
                await eager.hand_over()  # from here on in a task (_finish_decision)
                async with asyncio.timeout(self.gateway.config.auth_timeout):
                    result = await eager.resume(suspended)
            except BaseException:
                suspended.steps.close()  # cancelled or timed out: the call is abandoned
                raise
        except Exception as error:
            return self._no_decision(operation, rest.started, error, failure)
        self._observe(operation, "ok", rest.started)
        return result

    def _no_decision(self, operation: str, started: float, error: Exception, failure: T) -> T:
        """A backend call that failed or timed out: logged, counted, and ``failure``."""
        if isinstance(error, TimeoutError):
            outcome = "timeout"
        elif isinstance(error, AuthBackendUnavailableError):
            outcome = "unavailable"
            log.warning("auth backend unavailable", extra=self._fields(error=str(error)))
        else:
            outcome = "error"
            log.error(
                "auth backend failed",
                exc_info=(type(error), error, error.__traceback__),
                extra=self._fields(operation=operation),
            )
        self._observe(operation, outcome, started)
        log.warning(
            "auth backend gave no decision; refusing",
            extra=self._fields(operation=operation, outcome=outcome),
        )
        return failure

    def _observe(self, operation: str, outcome: str, started: float) -> None:
        gateway = self.gateway
        gateway.metrics.auth_observer(operation, outcome)(gateway.clock() - started)

    # ----------------------------------------------------------------------------------------

    def _level_of(self, kind: int, level: int) -> int | None:
        """The level to log an event of ``kind`` at (None: not logged at the configured
        level): its first on this connection at ``level``, later ones at debug. One broken
        device shows in the log; a flood of bad frames costs one line per connection (and the
        totals on its ``disconnected`` line), not one per frame."""
        if self._noted & kind:
            level = logging.DEBUG
        self._noted |= kind
        return level if log.isEnabledFor(level) else None

    def _noise(self) -> dict[str, int]:
        """The totals of the events only their first was logged for (those that happened)."""
        stats = self.session.stats
        totals = {
            "frames_rejected": stats.rejected,
            "messages_refused": stats.refused,
            "partial_messages_dropped": self._dropped,
        }
        return {name: count for name, count in totals.items() if count}

    def _fields(self, **more: object) -> dict[str, object]:
        fields: dict[str, object] = {
            "phone": self.phone,
            "device": self.device_name,
            "remote": self.remote_address,
        }
        fields.update(more)
        return fields


def _host(peer: object) -> str:
    """The source address of a connection, without its port (per-address limits)."""
    return str(peer[0]) if isinstance(peer, tuple) and peer else ""


def _address(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return "" if peer is None else str(peer)
