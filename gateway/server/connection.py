"""One terminal connection on the anyio event loop: the thin I/O shell around a TerminalSession.

Two tasks per connection: the reader feeds bytes to the session and acts on its events (asking
the auth backend, publishing to the hub), and the timer calls ``handle_timer`` at the session's
deadlines. Everything the session queues is written by ``flush`` under a lock, with a deadline:
a terminal that stops reading is disconnected instead of stalling the gateway. No exception from
one terminal escapes this module.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final, TypeVar

import anyio
import anyio.abc

from gateway.auth.base import (
    AuthBackendUnavailableError,
    AuthenticationDecision,
    AuthenticationRequest,
    RegistrationDecision,
    RegistrationRequest,
)
from gateway.hub import EventKind, LocationReported, TerminalEvent
from gateway.protocol.bodies.location import LocationBatch, location_reports
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
from gateway.protocol.ids import MessageId
from gateway.protocol.message import Message
from gateway.protocol.session import (
    AuthenticationReceived,
    CloseReason,
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

from .logs import get_logger

if TYPE_CHECKING:
    from .gateway import Gateway

RECEIVE_SIZE: Final = 65536
#: Session ends that mean a configured limit was hit (for jt808_limit_hits_total).
_LIMIT_OF_CLOSE: Final = {
    CloseReason.AUTHENTICATION_FAILED: "max_authentication_attempts",
    CloseReason.AUTHENTICATION_TIMEOUT: "authentication_timeout",
    CloseReason.IDLE_TIMEOUT: "idle_timeout",
    CloseReason.TOO_MANY_REFUSED: "max_refused_messages",
    CloseReason.UNRECOVERABLE_STREAM: "max_bad_frames",
}
T = TypeVar("T")
log = get_logger()


class CommandWaiter:
    """Where a command's outcome lands for the coroutine waiting on it."""

    __slots__ = ("done", "outcome")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.outcome: CommandEvent | None = None


@dataclass(frozen=True, slots=True)
class CommandResult:
    """How a command ended, the serial it was sent with, and how often it was retransmitted."""

    outcome: CommandEvent
    serial: int
    retransmissions: int


class TerminalConnection:
    def __init__(self, gateway: Gateway, stream: anyio.abc.ByteStream, remote_address: str) -> None:
        self.gateway = gateway
        self.stream = stream
        self.remote_address = remote_address
        self.session = TerminalSession(
            gateway.config.session_limits(),
            now=gateway.clock(),
            utc_now=gateway.wall_clock,
            remote_address=remote_address,
        )
        #: Wall-clock times for the API (the session itself runs on the monotonic clock).
        self.connected_wall = gateway.wall_clock()
        self.authenticated_wall: datetime | None = None
        self._send_lock = anyio.Lock()
        self._waiters: dict[int, CommandWaiter] = {}
        self._timer_changed = anyio.Event()
        self._armed: float = math.inf
        self._scope: anyio.CancelScope | None = None
        self._announced = False
        self._gauge: tuple[str, str] | None = None
        self._counted_in: dict[int, int] = {}
        self._counted_out: dict[int, int] = {}

    @property
    def phone(self) -> str:
        return self.session.phone or ""

    @property
    def device_name(self) -> str:
        return self.session.device_name

    # ----------------------------------------------------------------------------------------
    # Life cycle

    async def run(self) -> None:
        """Serve the connection until it closes; never raises (except cancellation)."""
        try:
            async with anyio.create_task_group() as tasks:
                self._scope = tasks.cancel_scope
                tasks.start_soon(self._timer_loop)
                await self._read_loop()
                tasks.cancel_scope.cancel()
        except anyio.get_cancelled_exc_class():
            # Cancelled from outside: the gateway is shutting down. Say so, flush, re-raise.
            with anyio.CancelScope(shield=True):
                await self._handle(
                    self.session.close(CloseReason.SERVER_SHUTDOWN, self.gateway.clock())
                )
                with anyio.move_on_after(1.0):
                    await self.flush()
            raise
        except Exception:  # one terminal must never take the listener down
            log.exception("connection failed", extra=self._fields())
            await self._handle(
                self.session.close(CloseReason.TRANSPORT_ERROR, self.gateway.clock())
            )
        finally:
            with anyio.CancelScope(shield=True):
                await self._finish()

    async def _read_loop(self) -> None:
        gateway = self.gateway
        session = self.session
        while session.state is not SessionState.CLOSED:
            try:
                data = await self.stream.receive(RECEIVE_SIZE)
            except anyio.EndOfStream:
                await self._handle(session.receive_eof(gateway.clock()))
                return
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                await self._handle(session.close(CloseReason.TRANSPORT_ERROR, gateway.clock()))
                return
            await self._handle(session.receive_data(data, gateway.clock()))
            await self.flush()
            self._rearm()

    async def _timer_loop(self) -> None:
        gateway = self.gateway
        session = self.session
        while session.state is not SessionState.CLOSED:
            deadline = session.next_deadline()
            self._armed = math.inf if deadline is None else deadline
            self._timer_changed = anyio.Event()
            wait = math.inf if deadline is None else max(0.0, deadline - gateway.clock())
            with anyio.move_on_after(wait):
                await self._timer_changed.wait()
                continue
            await self._handle(session.handle_timer(gateway.clock()))
            await self.flush()
        if self._scope is not None:
            self._scope.cancel()  # the session closed on a timer: stop reading too

    def _rearm(self) -> None:
        """Wake the timer when the session now has an earlier deadline than it sleeps for."""
        deadline = self.session.next_deadline()
        if deadline is None or deadline < self._armed:
            self._timer_changed.set()

    async def close(self, reason: CloseReason) -> None:
        """Close from outside (a newer connection, DisconnectSession, shutdown)."""
        await self._handle(self.session.close(reason, self.gateway.clock()))
        with anyio.move_on_after(1.0):
            await self.flush()
        if self._scope is not None:
            self._scope.cancel()

    async def _finish(self) -> None:
        gateway = self.gateway
        if self.session.state is not SessionState.CLOSED:
            await self._handle(self.session.close(CloseReason.TRANSPORT_ERROR, gateway.clock()))
        for waiter in self._waiters.values():
            waiter.done.set()
        gateway.sessions.unbind(self)
        self._set_gauge(None)
        with anyio.move_on_after(1.0):
            await self.stream.aclose()

    async def flush(self) -> None:
        """Write whatever the session queued; a terminal that does not read is dropped."""
        async with self._send_lock:
            data = self.session.data_to_send()
            if not data:
                return
            try:
                with anyio.fail_after(self.gateway.config.send_timeout):
                    await self.stream.send(data)
            except TimeoutError:
                self.gateway.metrics.limits.labels("send_timeout").inc()
                log.warning("terminal does not read its replies", extra=self._fields())
                await self._handle(
                    self.session.close(CloseReason.TRANSPORT_ERROR, self.gateway.clock())
                )
                if self._scope is not None:
                    self._scope.cancel()
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                await self._handle(
                    self.session.close(CloseReason.TRANSPORT_ERROR, self.gateway.clock())
                )

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
            self.gateway.metrics.limits.labels("max_pending_commands").inc()
            raise
        waiter = self._waiters[pending.command_id] = CommandWaiter()
        try:
            await self.flush()
            self._rearm()
            await waiter.done.wait()
        finally:
            self._waiters.pop(pending.command_id, None)
        outcome = waiter.outcome
        if outcome is None:
            failure = (
                CommandFailure.SESSION_CLOSED if pending.sent else CommandFailure.NOT_DELIVERED
            )
            outcome = CommandFailed(pending.command_id, pending.msg_id, failure, pending.retries)
        return CommandResult(outcome, pending.first_serial, pending.retries)

    # ----------------------------------------------------------------------------------------
    # Session events

    async def _handle(self, events: Iterable[SessionEvent]) -> None:
        if not self._announced and self.session.phone:
            # Announced before the events of the frame that revealed the phone, so that a
            # subscriber sees CONNECTED first.
            self._announced = True
            self._publish(EventKind.CONNECTED)
        queue = deque(events)
        while queue:
            event = queue.popleft()
            if isinstance(event, MessageReceived):
                self._deliver(event.message)
            elif isinstance(event, RegistrationReceived):
                queue.extend(await self._register(event))
            elif isinstance(event, AuthenticationReceived):
                queue.extend(await self._authenticate(event))
            elif isinstance(event, LogoutReceived):
                queue.extend(await self._logout(event))
            else:
                await self._note(event)
        self._update_gauge()
        self._sync_counters()

    async def _note(self, event: SessionEvent) -> None:
        metrics = self.gateway.metrics
        if isinstance(event, TerminalAuthenticated):
            previous = self.gateway.sessions.bind(self)
            if previous is not None:
                log.info("connection replaced by a newer one", extra=previous._fields())
                await previous.close(CloseReason.REPLACED)
            self.authenticated_wall = self.gateway.wall_clock()
            log.info("authenticated", extra=self._fields(version=int(event.version)))
            self._publish(EventKind.AUTHENTICATED)
        elif isinstance(event, TerminalRegistered):
            log.info("registered", extra=self._fields(device=event.device_name))
            self._publish(EventKind.REGISTERED, device_name=event.device_name)
        elif isinstance(event, TerminalLoggedOut):
            log.info("logged out", extra=self._fields())
            self.gateway.sessions.unbind(self)
            self._publish(EventKind.LOGGED_OUT)
        elif isinstance(event, CommandAnswered | CommandFailed):
            waiter = self._waiters.get(event.command_id)
            if waiter is not None:
                waiter.outcome = event
                waiter.done.set()
        elif isinstance(event, FrameRejected):
            metrics.errors.labels(type(event.error).__name__).inc()
            if isinstance(event.error, FrameTooLargeError):
                metrics.limits.labels("max_frame_length").inc()
            elif isinstance(event.error, ReassemblyLimitError):
                metrics.limits.labels(f"reassembly_{event.error.limit}").inc()
            log.info("frame rejected", extra=self._fields(error=str(event.error)))
        elif isinstance(event, MessageRefused):
            metrics.errors.labels("refused").inc()
            log.info(
                "message refused",
                extra=self._fields(msg_id=f"0x{event.header.msg_id:04X}", reason=event.reason),
            )
        elif isinstance(event, PartialMessageDropped):
            metrics.reassembly_dropped.labels(event.reason.value).inc()
            log.warning(
                "sub-packaged message dropped",
                extra=self._fields(
                    msg_id=f"0x{event.msg_id:04X}",
                    reason=event.reason.value,
                    received=f"{event.received}/{event.total}",
                ),
            )
        elif isinstance(event, SessionClosed):
            metrics.disconnects.labels(event.reason.value).inc()
            limit = _LIMIT_OF_CLOSE.get(event.reason)
            if limit is not None:
                metrics.limits.labels(limit).inc()
            log.info("disconnected", extra=self._fields(reason=event.reason.value))
            if self._announced:  # a link that never said who it was has nobody to report
                self._publish(EventKind.DISCONNECTED, reason=event.reason.value)

    def _deliver(self, message: Message) -> None:
        gateway = self.gateway
        header = message.header
        reports = location_reports(message.body)
        if reports:
            batch_type = message.body.type if isinstance(message.body, LocationBatch) else None
            received_at = gateway.wall_clock()
            for report in reports:
                gateway.hub.publish(
                    LocationReported(
                        self.phone, self.device_name, report, header.msg_id, header.serial,
                        batch_type, received_at,
                    )
                )  # fmt: skip
            return
        kind = (
            EventKind.TRANSPARENT_DATA
            if header.msg_id == MessageId.UPLINK_PASSTHROUGH
            else EventKind.MESSAGE
        )
        self._publish(kind, message=message)

    def _publish(
        self,
        kind: EventKind,
        *,
        reason: str = "",
        message: Message | None = None,
        device_name: str | None = None,
    ) -> None:
        self.gateway.hub.publish(
            TerminalEvent(
                kind,
                self.phone,
                self.device_name if device_name is None else device_name,
                self.gateway.wall_clock(),
                self.remote_address,
                reason,
                message,
            )
        )

    # ----------------------------------------------------------------------------------------
    # Decisions (the auth backend)

    async def _register(self, event: RegistrationReceived) -> list[SessionEvent]:
        body = event.body
        request = RegistrationRequest(
            phone=event.header.phone,
            province_id=body.province_id,
            city_id=body.city_id,
            manufacturer_id=body.manufacturer_id,
            terminal_model=body.terminal_model,
            terminal_id=body.terminal_id,
            plate_color=body.plate_color,
            plate=body.plate,
            protocol_version=int(event.header.version),
            remote_address=self.remote_address,
        )
        no_decision = RegistrationDecision(RegisterResult.TERMINAL_NOT_FOUND)
        decision = await self._ask("register", self.gateway.auth.register(request), no_decision)
        # Without a decision the terminal is refused all the same, but the log says why.
        result = "NO_DECISION" if decision is no_decision else decision.result.name
        log.info("registration", extra=self._fields(device=request.device_name, result=result))
        return self.session.answer_registration(
            event,
            decision.result,
            decision.auth_code,
            self.gateway.clock(),
            device_name=decision.device_name or request.device_name,
        )

    async def _authenticate(self, event: AuthenticationReceived) -> list[SessionEvent]:
        request = AuthenticationRequest(
            phone=event.header.phone,
            auth_code=event.auth_code,
            imei=event.imei,
            software_version=event.software_version,
            remote_address=self.remote_address,
        )
        no_decision = AuthenticationDecision(False)
        decision = await self._ask(
            "authenticate", self.gateway.auth.authenticate(request), no_decision
        )
        if not decision.accepted:
            result = "NO_DECISION" if decision is no_decision else "REFUSED"
            log.info("authentication refused", extra=self._fields(result=result))
        return self.session.answer_authentication(
            event, decision.accepted, self.gateway.clock(), device_name=decision.device_name
        )

    async def _logout(self, event: LogoutReceived) -> list[SessionEvent]:
        revoked = await self._ask("logout", self._revoke(event.header.phone), False)
        return self.session.answer_logout(event, self.gateway.clock(), revoked=revoked)

    async def _revoke(self, phone: str) -> bool:
        await self.gateway.auth.logout(phone)
        return True

    async def _ask(self, operation: str, call: Awaitable[T], failure: T) -> T:
        """Await a backend call within the deadline; on any failure return ``failure``."""
        gateway = self.gateway
        started = gateway.clock()
        outcome = "ok"
        try:
            with anyio.fail_after(gateway.config.auth_timeout):
                return await call
        except TimeoutError:
            outcome = "timeout"
        except AuthBackendUnavailableError as error:
            outcome = "unavailable"
            log.warning("auth backend unavailable", extra=self._fields(error=str(error)))
        except Exception:
            outcome = "error"
            log.exception("auth backend failed", extra=self._fields(operation=operation))
        finally:
            gateway.metrics.auth_seconds.labels(operation, outcome).observe(
                gateway.clock() - started
            )
        log.warning(
            "auth backend gave no decision; refusing",
            extra=self._fields(operation=operation, outcome=outcome),
        )
        return failure

    # ----------------------------------------------------------------------------------------

    def _fields(self, **more: object) -> dict[str, object]:
        fields: dict[str, object] = {
            "phone": self.phone,
            "device": self.device_name,
            "remote": self.remote_address,
        }
        fields.update(more)
        return fields

    def _sync_counters(self) -> None:
        """Move the session's per-id message counts into the metrics (only what changed)."""
        stats = self.session.stats
        metrics = self.gateway.metrics
        for counts, seen, counter in (
            (stats.messages_in, self._counted_in, metrics.messages_in),
            (stats.messages_out, self._counted_out, metrics.messages_out),
        ):
            for msg_id, count in counts.items():
                delta = count - seen.get(msg_id, 0)
                if delta:
                    counter.labels(f"0x{msg_id:04X}").inc(delta)
                    seen[msg_id] = count

    def _update_gauge(self) -> None:
        session = self.session
        if session.state is SessionState.CLOSED:
            self._set_gauge(None)
            return
        version = str(int(session.version)) if session.version is not None else "unknown"
        self._set_gauge((session.state.value, version))

    def _set_gauge(self, labels: tuple[str, str] | None) -> None:
        if labels == self._gauge:
            return
        sessions = self.gateway.metrics.sessions
        if self._gauge is not None:
            sessions.labels(*self._gauge).dec()
        if labels is not None:
            sessions.labels(*labels).inc()
        self._gauge = labels
