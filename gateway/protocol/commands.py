"""Platform commands in flight: retransmission and matching of the terminal's reply.

Sans-I/O like the rest of the core: ``now`` comes in as an argument. One ``CommandTracker`` per
terminal session. Retransmission follows 2019 §6.1: the timeout grows as T(N+1) = T(N) × (N+1)
(we count N from 1, so the waits are T, 2T, 6T, ...; the standard does not say where N starts)
and is bounded by ``max_retries``; a command's own deadline bounds everything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from .errors import ProtocolError, ResultCode
from .ids import MessageId
from .message import Message
from .replies import ACKNOWLEDGED_FIRST, REPLIES_WITHOUT_SERIAL, command_reply
from .versions import ProtocolVersion

_GENERAL: Final = int(MessageId.TERMINAL_GENERAL_RESPONSE)


class CommandFailure(StrEnum):
    """Why a command ended without the reply it waited for."""

    NO_REPLY = "sent, no reply"  # sent (and retransmitted) but never answered before the deadline
    NOT_DELIVERED = "not delivered"  # the session ended before the bytes left
    SESSION_CLOSED = "session closed"  # sent, then the connection closed before a reply


class TooManyPendingCommandsError(ProtocolError):
    """The terminal already has as many commands in flight as the limit allows."""

    result_code = ResultCode.FAILURE


@dataclass(slots=True)
class PendingCommand:
    """A command sent to the terminal and not yet answered.

    ``serials`` are the serials of its packets (one unless the body was split); ``frames`` the
    bytes to resend on retransmission (identical, same serials). ``acknowledged`` is set when a
    command answered in two steps (0x8500, 0x8801, 0x8302) got its first, general response:
    it is no longer retransmitted, only waited for.
    """

    command_id: int
    msg_id: int
    serials: tuple[int, ...]
    frames: tuple[bytes, ...]
    expected_reply: int
    deadline: float
    next_retry: float
    wait: float
    retries: int = 0
    acknowledged: bool = False
    sent: bool = False
    acked_serials: set[int] = field(default_factory=set)

    @property
    def first_serial(self) -> int:
        return self.serials[0]


@dataclass(frozen=True, slots=True)
class CommandAnswered:
    """The terminal answered command ``command_id`` with ``reply`` (its final reply)."""

    command_id: int
    msg_id: int
    reply: Message

    @property
    def result(self) -> int:
        """The result code for general responses; 0 for dedicated replies (they are the data)."""
        result = getattr(self.reply.body, "result", 0)
        return int(result) if self.reply.msg_id == _GENERAL else 0


@dataclass(frozen=True, slots=True)
class CommandFailed:
    """Command ``command_id`` ended without its reply, for ``reason``."""

    command_id: int
    msg_id: int
    reason: CommandFailure
    retries: int


CommandEvent = CommandAnswered | CommandFailed


class CommandTracker:
    """The commands in flight to one terminal (at most ``max_pending``)."""

    def __init__(
        self, *, retry_timeout: float = 10.0, max_retries: int = 2, max_pending: int = 32
    ) -> None:
        if retry_timeout <= 0 or max_retries < 0 or max_pending < 1:
            raise ValueError("retry_timeout > 0, max_retries >= 0 and max_pending >= 1")
        self.retry_timeout = retry_timeout
        self.max_retries = max_retries
        self.max_pending = max_pending
        self._pending: dict[int, PendingCommand] = {}  # by command id, oldest first
        self._next_id = 1

    def __len__(self) -> int:
        return len(self._pending)

    def pending(self) -> list[PendingCommand]:
        return list(self._pending.values())

    def add(
        self,
        msg_id: int,
        serials: Sequence[int],
        frames: Sequence[bytes],
        version: ProtocolVersion,
        *,
        now: float,
        timeout: float,
    ) -> PendingCommand:
        """Track a command that is being sent now; it fails at ``now + timeout`` unanswered."""
        self.check_capacity()
        command = PendingCommand(
            command_id=self._next_id,
            msg_id=msg_id,
            serials=tuple(serials),
            frames=tuple(frames),
            expected_reply=command_reply(msg_id, version),
            deadline=now + timeout,
            next_retry=now + self.retry_timeout,
            wait=self.retry_timeout,
        )
        self._next_id += 1
        self._pending[command.command_id] = command
        return command

    def check_capacity(self) -> None:
        """Raise ``TooManyPendingCommandsError`` when no further command may be sent."""
        if len(self._pending) >= self.max_pending:
            raise TooManyPendingCommandsError(
                f"{len(self._pending)} commands are already waiting for this terminal's "
                f"replies (limit {self.max_pending})"
            )

    def mark_sent(self) -> None:
        """Every tracked command's bytes have been handed to the transport."""
        if self._pending:
            for command in self._pending.values():
                command.sent = True

    def match(self, message: Message) -> list[CommandEvent] | None:
        """What ``message`` (a terminal message) does to the commands in flight.

        ``None``: it answers no command. A list: it was used by a command, either completing it
        (one ``CommandAnswered``) or acknowledging it on the way ([]: the first step of a
        two-step command, or one packet of a split command).
        """
        msg_id = message.msg_id
        body = message.body
        if msg_id == _GENERAL:
            reply_id = getattr(body, "reply_id", None)
            reply_serial = getattr(body, "reply_serial", None)
            if reply_serial is None:
                return None
            command = self._find(lambda c: c.msg_id == reply_id and reply_serial in c.serials)
            if command is None:
                return None
            return self._general_response(command, message, reply_serial)
        if msg_id in REPLIES_WITHOUT_SERIAL:
            command = self._find(lambda c: c.expected_reply == msg_id)
        else:
            reply_serial = getattr(body, "reply_serial", None)
            if reply_serial is None:
                return None
            command = self._find(lambda c: c.expected_reply == msg_id and reply_serial in c.serials)
        if command is None:
            return None
        return [self._finish(command, message)]

    def _general_response(
        self, command: PendingCommand, message: Message, reply_serial: int
    ) -> list[CommandEvent]:
        result = getattr(message.body, "result", ResultCode.SUCCESS)
        failed = result != ResultCode.SUCCESS
        if command.expected_reply != _GENERAL:
            if failed or command.msg_id not in ACKNOWLEDGED_FIRST:
                # Failure or "not supported" instead of the dedicated reply: that is the answer.
                return [self._finish(command, message)]
            command.acknowledged = True  # the real answer (0x0500, 0x0805, ...) comes later
            return []
        if len(command.serials) > 1 and not failed:
            # A split command: packets may be acknowledged one by one; the one naming the last
            # packet (or every packet having been acknowledged) completes it.
            command.acked_serials.add(reply_serial)
            if reply_serial != command.serials[-1] and len(command.acked_serials) < len(
                command.serials
            ):
                command.acknowledged = True
                return []
        return [self._finish(command, message)]

    def _find(self, fits: Callable[[PendingCommand], bool]) -> PendingCommand | None:
        for command in self._pending.values():  # oldest first
            if fits(command):
                return command
        return None

    def _finish(self, command: PendingCommand, reply: Message) -> CommandAnswered:
        del self._pending[command.command_id]
        return CommandAnswered(command.command_id, command.msg_id, reply)

    def next_deadline(self) -> float | None:
        if not self._pending:
            return None
        times = [c.deadline for c in self._pending.values()]
        times += [c.next_retry for c in self._pending.values() if self._retransmits(c)]
        return min(times, default=None)

    def _retransmits(self, command: PendingCommand) -> bool:
        return not command.acknowledged and command.retries < self.max_retries

    def handle_timer(self, now: float) -> tuple[list[bytes], list[CommandEvent]]:
        """Frames to retransmit and the commands that failed by ``now``."""
        resend: list[bytes] = []
        events: list[CommandEvent] = []
        for command in list(self._pending.values()):
            if now >= command.deadline:
                del self._pending[command.command_id]
                events.append(
                    CommandFailed(
                        command.command_id, command.msg_id, CommandFailure.NO_REPLY, command.retries
                    )
                )
            elif self._retransmits(command) and now >= command.next_retry:
                command.retries += 1
                command.wait *= command.retries + 1  # T(N+1) = T(N) * (N+1)
                command.next_retry = now + command.wait
                resend.extend(command.frames)
        return resend, events

    def close(self) -> list[CommandEvent]:
        """The session ended: every command in flight fails."""
        events: list[CommandEvent] = [
            CommandFailed(
                c.command_id,
                c.msg_id,
                CommandFailure.SESSION_CLOSED if c.sent else CommandFailure.NOT_DELIVERED,
                c.retries,
            )
            for c in self._pending.values()
        ]
        self._pending.clear()
        return events
