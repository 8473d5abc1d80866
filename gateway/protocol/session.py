"""The terminal session: one connection's state machine, sans-I/O.

States: ``connected`` → (0x0100) ``registered`` → (0x0102) ``authenticated`` → ``closed``
(0x0003 logout takes an authenticated terminal back to ``connected``). Before authentication
only 0x0100, 0x0102, 0x0003 and 0x0002 are accepted; anything else is answered 0x8001 result 1
and not delivered, and too many such refusals close the connection.

Use (the I/O edge does this for every connection)::

    session = TerminalSession(limits, now=clock(), utc_now=wall_clock)
    events = session.receive_data(chunk, now=clock())   # or handle_timer / send_command
    transport.write(session.data_to_send())

Decisions that need the outside world (is this device known? is this auth code right?) are
events: ``RegistrationReceived``, ``AuthenticationReceived`` and ``LogoutReceived``. The session
stops reading further frames until the matching ``answer_*`` call, so a terminal that pipelines
a location right behind its 0x0102 is judged after its authentication, not before.
Time comes in as ``now`` (monotonic seconds); wall-clock time, needed only to answer 0x0004, is
an injected function. Nothing here does I/O.

RSA body encryption (``rsa=`` the platform's key pair, see ``encryption``): a terminal's 0x0A00
gives the session its public key (answered with the platform's 0x8A00); from then on commands
to it are encrypted with that key, and its encrypted bodies are decrypted with the platform's.
Only authenticated terminals are decrypted for; before that, or without a platform key, an
encrypted body is answered 0x8001 result 3; one that does not decrypt, result 2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final, cast

from .acks import GeneralResponseTemplate
from .bodies.general import (
    ServerTimeResponse,
    TerminalRetransmitRequest,
)
from .bodies.location import LazyLocationReport, LocationBatch
from .bodies.multimedia import MultimediaData, MultimediaDataResponse
from .bodies.passthrough import TerminalRsaKey
from .bodies.registration import (
    RegisterResult,
    TerminalAuthenticate,
    TerminalRegister,
    TerminalRegisterResponse,
)
from .body import Body, Fragment, RawBody, decode_body
from .commands import CommandEvent, CommandTracker, PendingCommand
from .encryption import RsaKeyError, RsaKeyPair, RsaPublicKey
from .errors import (
    EncodeError,
    FramingError,
    ProtocolError,
    ResultCode,
    UnsupportedMessageError,
)
from .framing import MAX_FRAME_LENGTH, NEED_DATA, FrameDecoder
from .header import RSA_ENCRYPTION, Header
from .ids import MessageId
from .message import Message, decode_packet, encode, encode_body
from .replies import ALLOWED_BEFORE_AUTHENTICATION, UplinkReply, uplink_reply
from .subpackage import (
    MiB,
    PartialMessageDropped,
    Reassembler,
    ReassemblyBudget,
    RetransmissionRequested,
    SentCache,
    SubpackageError,
    encode_split,
)
from .versions import V2011, V2019, ProtocolVersion

SERIAL_MODULUS: Final = 0x10000
#: Uplink messages answered with a plain 0x8001 and delivered, nothing else, when their body
#: decoded to this type (not a fragment, not an encrypted body): the hot path of
#: ``_handle_packet``. Neither id answers a platform command.
_PLAIN_REPORTS: Final[dict[int, type[Body]]] = {
    MessageId.LOCATION_REPORT: LazyLocationReport,  # what decode_packet gives for 0x0200
    MessageId.LOCATION_BATCH: LocationBatch,
}


class SessionState(StrEnum):
    CONNECTED = "connected"
    REGISTERED = "registered"
    AUTHENTICATED = "authenticated"
    CLOSED = "closed"


class CloseReason(StrEnum):
    """Why a session ended (a label for logs and metrics)."""

    PEER_CLOSED = "peer_closed"
    IDLE_TIMEOUT = "idle_timeout"
    AUTHENTICATION_TIMEOUT = "authentication_timeout"
    AUTHENTICATION_FAILED = "authentication_failed"
    TOO_MANY_REFUSED = "too_many_refused_messages"
    UNRECOVERABLE_STREAM = "unrecoverable_stream"
    REPLACED = "replaced_by_new_connection"
    DISCONNECT_REQUESTED = "disconnect_requested"
    SERVER_SHUTDOWN = "server_shutdown"
    #: Unauthenticated and idle while newcomers needed its slot.
    SHED = "shed_under_pressure"
    TRANSPORT_ERROR = "transport_error"


# Module constants for the hot path: compiled, an enum member read through its class is an
# attribute lookup each time; these are plain globals.
_CLOSED: Final = SessionState.CLOSED
_AUTHENTICATED: Final = SessionState.AUTHENTICATED
_SUCCESS: Final = ResultCode.SUCCESS
_REGISTER: Final = int(MessageId.TERMINAL_REGISTER)
#: Uplink messages the session must read to answer (a raw body of theirs is refused).
_TYPED_REPLIES: Final = frozenset({UplinkReply.REGISTRATION, UplinkReply.AUTHENTICATION})


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """Per-connection limits and timers; every one has a default a fleet can live with."""

    idle_timeout: float = 180.0
    #: A connection must authenticate within this many seconds of connecting.
    authentication_timeout: float = 60.0
    #: Failed 0x0102 (or refused 0x0100) before the connection is closed.
    max_authentication_attempts: int = 3
    #: Messages refused before authentication (or for another phone) before closing.
    max_refused_messages: int = 10
    #: Consecutive frames that do not decode before the stream is declared unrecoverable.
    max_bad_frames: int = 32
    max_frame_length: int = MAX_FRAME_LENGTH
    #: Largest frame before authentication: room for a registration or an authentication (a
    #: 2019 0x0100 is about 140 bytes), not for what an unknown peer would like us to hold.
    unauthenticated_frame_length: int = 1024
    max_pending_commands: int = 32
    command_retry_timeout: float = 10.0
    command_max_retries: int = 2
    reassembly_max_bytes: int = 4 * MiB
    reassembly_max_partials: int = 8
    reassembly_retransmit_after: float = 10.0
    reassembly_max_retries: int = 3
    sent_cache_messages: int = 8
    sent_cache_bytes: int = 2 * MiB


# --------------------------------------------------------------------------------------------
# Events


# The events of every handshake write their ``__init__`` out (``init=False``): compiled, a
# dataclass-generated one runs interpreted (frozen: each field set once, as the dataclass would).


@dataclass(frozen=True, slots=True, init=False)
class RegistrationReceived:
    """0x0100 arrived: decide with ``TerminalSession.answer_registration``."""

    header: Header
    body: TerminalRegister

    def __init__(self, header: Header, body: TerminalRegister) -> None:
        object.__setattr__(self, "header", header)
        object.__setattr__(self, "body", body)


@dataclass(frozen=True, slots=True, init=False)
class AuthenticationReceived:
    """0x0102 arrived: decide with ``TerminalSession.answer_authentication``."""

    header: Header
    auth_code: str
    imei: str
    software_version: str

    def __init__(self, header: Header, auth_code: str, imei: str, software_version: str) -> None:
        object.__setattr__(self, "header", header)
        object.__setattr__(self, "auth_code", auth_code)
        object.__setattr__(self, "imei", imei)
        object.__setattr__(self, "software_version", software_version)


@dataclass(frozen=True, slots=True)
class LogoutReceived:
    """0x0003 arrived: revoke the auth code, then call ``TerminalSession.answer_logout``."""

    header: Header


@dataclass(frozen=True, slots=True, init=False)
class TerminalRegistered:
    phone: str
    device_name: str

    def __init__(self, phone: str, device_name: str) -> None:
        object.__setattr__(self, "phone", phone)
        object.__setattr__(self, "device_name", device_name)


@dataclass(frozen=True, slots=True, init=False)
class TerminalAuthenticated:
    phone: str
    version: ProtocolVersion
    device_name: str

    def __init__(self, phone: str, version: ProtocolVersion, device_name: str) -> None:
        object.__setattr__(self, "phone", phone)
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "device_name", device_name)


@dataclass(frozen=True, slots=True)
class TerminalLoggedOut:
    phone: str


@dataclass(frozen=True, slots=True, init=False)
class MessageReceived:
    """An uplink message of an authenticated terminal (whole: sub-packages are reassembled)."""

    message: Message

    def __init__(self, message: Message) -> None:
        # One per report (see above).
        object.__setattr__(self, "message", message)


@dataclass(frozen=True, slots=True)
class MessageRefused:
    """A well-formed message that this session does not accept, answered with result 1."""

    header: Header
    reason: str


@dataclass(frozen=True, slots=True)
class FrameRejected:
    """Bytes that did not decode; ``answered`` is the result code sent back, if any."""

    error: ProtocolError
    answered: ResultCode | None


@dataclass(frozen=True, slots=True)
class SessionClosed:
    reason: CloseReason


SessionEvent = (
    RegistrationReceived
    | AuthenticationReceived
    | LogoutReceived
    | TerminalRegistered
    | TerminalAuthenticated
    | TerminalLoggedOut
    | MessageReceived
    | MessageRefused
    | FrameRejected
    | PartialMessageDropped
    | CommandEvent
    | SessionClosed
)

Decision = RegistrationReceived | AuthenticationReceived | LogoutReceived


class SessionNotReadyError(ProtocolError):
    """A command was sent to a session that is not authenticated (or already closed)."""

    result_code = ResultCode.FAILURE


@dataclass(slots=True, init=False)
class SessionStats:
    """Counters of one session; the server turns them into metrics."""

    bytes_in: int = 0
    bytes_out: int = 0
    frames_in: int = 0
    frames_out: int = 0
    rejected: int = 0
    refused: int = 0
    messages_in: dict[int, int] = field(default_factory=dict)
    messages_out: dict[int, int] = field(default_factory=dict)

    def __init__(self) -> None:  # one per connection (see the events above)
        self.bytes_in = self.bytes_out = self.frames_in = self.frames_out = 0
        self.rejected = self.refused = 0
        self.messages_in = {}
        self.messages_out = {}


def _utc_now() -> datetime:
    raise RuntimeError("no wall clock was given to this session (utc_now=...)")


class TerminalSession:
    """One terminal connection. See the module docstring for the life cycle."""

    def __init__(
        self,
        limits: SessionLimits | None = None,
        *,
        now: float,
        utc_now: Callable[[], datetime] = _utc_now,
        remote_address: str = "",
        rsa: RsaKeyPair | None = None,
        reassembly_budget: ReassemblyBudget | None = None,
    ) -> None:
        self.limits = limits = limits or SessionLimits()
        self.remote_address = remote_address
        self.state = SessionState.CONNECTED
        self.phone: str | None = None
        self.version: ProtocolVersion | None = None
        self.protocol_version = 0
        self.device_name = ""
        self.connected_at = now
        self.authenticated_at: float | None = None
        self.last_activity = now
        self.close_reason: CloseReason | None = None
        self.stats = SessionStats()
        self._utc_now = utc_now
        self._decoder = FrameDecoder(self._unauthenticated_frame_length())
        self._reassembler = Reassembler(
            retransmit_after=limits.reassembly_retransmit_after,
            max_retries=limits.reassembly_max_retries,
            max_bytes=limits.reassembly_max_bytes,
            max_partials=limits.reassembly_max_partials,
            budget=reassembly_budget,
        )
        self._sent = SentCache(
            max_messages=limits.sent_cache_messages, max_bytes=limits.sent_cache_bytes
        )
        self._commands = CommandTracker(
            retry_timeout=limits.command_retry_timeout,
            max_retries=limits.command_max_retries,
            max_pending=limits.max_pending_commands,
        )
        #: Set when a deadline may have moved earlier (a command sent, a sub-package started, a
        #: logout): the I/O edge then reads ``next_deadline`` again, and clears this. Activity
        #: only ever moves deadlines later, which needs no re-arming.
        self.timers_changed = True
        self._outgoing: list[bytes] = []
        self._ack_template: GeneralResponseTemplate | None = None
        self._serial = 0
        self._pending_decision: Decision | None = None
        self._bad_frames = 0
        self._refused = 0
        self._authentication_failures = 0
        #: RSA body encryption: the platform's key pair, the terminal's public key once it sent
        #: one (commands are encrypted with it), and whether our key went out this session.
        self._rsa = rsa
        self.terminal_rsa_key: RsaPublicKey | None = None
        self._platform_key_sent = False

    def _unauthenticated_frame_length(self) -> int:
        limits = self.limits
        return min(limits.unauthenticated_frame_length, limits.max_frame_length)

    # ----------------------------------------------------------------------------------------
    # Inputs

    @property
    def authenticated(self) -> bool:
        return self.state is SessionState.AUTHENTICATED

    @property
    def awaiting_decision(self) -> Decision | None:
        """The registration/authentication/logout waiting for an ``answer_*`` call, if any."""
        return self._pending_decision

    @property
    def pending_commands(self) -> list[PendingCommand]:
        return self._commands.pending()

    def receive_data(self, data: bytes, now: float) -> list[SessionEvent]:
        """Bytes from the terminal. Must not be called while a decision is pending."""
        if self._pending_decision is not None:
            raise RuntimeError("answer the pending decision before feeding more bytes")
        if self.state is SessionState.CLOSED:
            return []
        self.stats.bytes_in += len(data)
        self._decoder.receive_data(data)
        return self._process(now)

    def receive_eof(self, now: float) -> list[SessionEvent]:
        """The terminal closed its side of the connection."""
        return self.close(CloseReason.PEER_CLOSED, now)

    def answer_registration(
        self,
        request: RegistrationReceived,
        result: RegisterResult,
        auth_code: str,
        now: float,
        *,
        device_name: str = "",
    ) -> list[SessionEvent]:
        """Send 0x8100 with ``result`` (and the auth code when it is a success)."""
        if not self._take_decision(request):
            return []
        events: list[SessionEvent] = []
        body = TerminalRegisterResponse(
            reply_serial=request.header.serial,
            result=int(result),
            auth_code=auth_code if result is RegisterResult.SUCCESS else "",
        )
        self._reply(MessageId.TERMINAL_REGISTER_RESPONSE, body)
        if result is RegisterResult.SUCCESS:
            if self.state is SessionState.CONNECTED:
                self.state = SessionState.REGISTERED
            events.append(TerminalRegistered(request.header.phone, device_name))
        else:
            events += self._count_authentication_failure(now)
        return events + self._process(now)

    def answer_authentication(
        self,
        request: AuthenticationReceived,
        accepted: bool,
        now: float,
        *,
        device_name: str = "",
    ) -> list[SessionEvent]:
        """Send 0x8001 for the 0x0102: result 0 and authenticated, or result 1."""
        if not self._take_decision(request):
            return []
        events: list[SessionEvent] = []
        self._general_response(
            request.header, ResultCode.SUCCESS if accepted else ResultCode.FAILURE
        )
        if accepted:
            self.state = SessionState.AUTHENTICATED
            self.authenticated_at = now
            self._decoder.max_frame_length = self.limits.max_frame_length
            self.device_name = device_name
            self._refused = 0
            assert self.phone is not None and self.version is not None
            events.append(TerminalAuthenticated(self.phone, self.version, device_name))
        else:
            events += self._count_authentication_failure(now)
        return events + self._process(now)

    def answer_logout(
        self, request: LogoutReceived, now: float, *, revoked: bool = True
    ) -> list[SessionEvent]:
        """Send 0x8001 for the 0x0003: result 0 once the auth code is revoked (the terminal must
        register again to come back), result 1 when it could not be (the terminal stays in and
        may ask again)."""
        if not self._take_decision(request):
            return []
        if not revoked:
            self._general_response(request.header, ResultCode.FAILURE)
            return self._process(now)
        self._general_response(request.header, ResultCode.SUCCESS)
        self.state = SessionState.CONNECTED
        self._decoder.max_frame_length = self._unauthenticated_frame_length()
        self.authenticated_at = None
        self.connected_at = now  # a fresh deadline to register and authenticate again
        self.timers_changed = True
        return [TerminalLoggedOut(request.header.phone), *self._process(now)]

    def send_command(
        self, body: Body, now: float, *, timeout: float, msg_id: int | None = None
    ) -> PendingCommand:
        """Encode a platform command in the terminal's revision and queue it.

        ``msg_id`` is needed for a ``RawBody``; for typed bodies it defaults to the body's id.
        Raises ``SessionNotReadyError`` before authentication, ``TooManyPendingCommandsError``
        past the limit, ``EncodeError`` when the command cannot be written.
        """
        if self.state is not SessionState.AUTHENTICATED:
            raise SessionNotReadyError(f"terminal session is {self.state.value}, not authenticated")
        command_id = body.MSG_ID if msg_id is None else msg_id
        if not 0x8000 <= command_id <= 0xFFFF:
            raise EncodeError(f"0x{command_id:04X} is not a platform-to-terminal message id")
        self._commands.check_capacity()  # before serials are taken: a refusal leaves no trace
        if command_id == MessageId.PLATFORM_RSA_KEY and self._rsa is not None:
            body = self._platform_key_command(body)
        data = encode_body(body, self._version)
        header = self._header(command_id, 0)
        if self.terminal_rsa_key is not None and data and command_id != MessageId.PLATFORM_RSA_KEY:
            data = self.terminal_rsa_key.encrypt(data)
            header.encryption = RSA_ENCRYPTION
        split = encode_split(header, data, self._next_serial)
        if len(split.frames) > 1:
            self._sent.add(split)
        command = self._commands.add(
            command_id, split.serials, split.frames, self._version, now=now, timeout=timeout
        )
        for frame in split.frames:
            self._queue(command_id, frame)
        self.timers_changed = True
        return command

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` must be called next (``None``: nothing scheduled)."""
        if self.state is SessionState.CLOSED:
            return None
        deadlines = [self.last_activity + self.limits.idle_timeout]
        if self.state is not SessionState.AUTHENTICATED:
            deadlines.append(self.connected_at + self.limits.authentication_timeout)
        for candidate in (self._reassembler.next_deadline(), self._commands.next_deadline()):
            if candidate is not None:
                deadlines.append(candidate)
        return min(deadlines)

    def handle_timer(self, now: float) -> list[SessionEvent]:
        """Run everything due by ``now``: timeouts, retransmissions, reassembly requests."""
        if self.state is SessionState.CLOSED:
            return []
        if now >= self.last_activity + self.limits.idle_timeout:
            return self.close(CloseReason.IDLE_TIMEOUT, now)
        if (
            self.state is not SessionState.AUTHENTICATED
            and now >= self.connected_at + self.limits.authentication_timeout
        ):
            return self.close(CloseReason.AUTHENTICATION_TIMEOUT, now)
        events: list[SessionEvent] = []
        for event in self._reassembler.handle_timer(now):
            if isinstance(event, RetransmissionRequested):
                # 0x8003 exists from 2013 on: a 2011 terminal just runs out of time.
                if event.version is not V2011:
                    self._reply(MessageId.PLATFORM_RETRANSMIT_REQUEST, event.body())
            else:
                events.append(event)
        self.timers_changed = True
        resend, failures = self._commands.handle_timer(now)
        for frame in resend:
            self._outgoing.append(frame)
            self.stats.frames_out += 1
        events += failures
        return events

    def close(self, reason: CloseReason, now: float) -> list[SessionEvent]:
        """End the session (idempotent): pending commands fail, partial messages are dropped."""
        if self.state is SessionState.CLOSED:
            return []
        self.state = SessionState.CLOSED
        self.close_reason = reason
        self._pending_decision = None
        events: list[SessionEvent] = list(self._commands.close())
        events += self._reassembler.close(now)
        events.append(SessionClosed(reason))
        return events

    def data_to_send(self) -> bytes:
        """Bytes queued for the terminal (handing them over counts as sending them)."""
        outgoing = self._outgoing
        if not outgoing:
            return b""
        data = outgoing[0] if len(outgoing) == 1 else b"".join(outgoing)
        outgoing.clear()
        self.stats.bytes_out += len(data)
        self._commands.mark_sent()
        return data

    # ----------------------------------------------------------------------------------------
    # Processing

    def _process(self, now: float) -> list[SessionEvent]:
        events: list[SessionEvent] = []
        decoder = self._decoder
        # No local alias of the bound method: compiled, self._handle_packet is a direct C call.
        while self._pending_decision is None and self.state is not _CLOSED:
            event = decoder.next_event()
            if type(event) is bytes:
                self._handle_packet(event, now, events)
            elif event is NEED_DATA:
                break
            else:
                events += self._reject(cast(FramingError, event), now)
        return events

    def _handle_packet(self, packet: bytes, now: float, events: list[SessionEvent]) -> None:
        """Decode one packet and act on it; what it produces is appended to ``events``."""
        stats = self.stats
        stats.frames_in += 1
        try:
            message = decode_packet(packet, version_hint=self.version)
        except ProtocolError as error:
            events += self._reject(error, now)
            return
        header = message.header
        phone = header.phone
        if phone != self.phone:
            if self.phone is not None:
                events += self._refuse(
                    header, f"frame for phone {phone} on {self.phone}'s link", now
                )
                return
            self.phone = phone
        self._bad_frames = 0
        self.last_activity = now
        msg_id = header.msg_id
        version = header.version
        if version is V2019 or msg_id == _REGISTER or self.version is None:
            self.version = version
            self.protocol_version = header.protocol_version
        counts = stats.messages_in
        counts[msg_id] = counts.get(msg_id, 0) + 1
        if self.state is not _AUTHENTICATED:
            if msg_id not in ALLOWED_BEFORE_AUTHENTICATION:
                events += self._refuse(header, "not authenticated", now)
                return
            if isinstance(message.body, Fragment):
                # A registration is one small frame: before authentication nothing is held
                # for a peer that has proved nothing.
                events += self._refuse(header, "sub-packaged before authentication", now)
                return
        elif type(message.body) is _PLAIN_REPORTS.get(msg_id):
            # The bulk of all traffic: acknowledge, deliver.
            self._general_response(header, _SUCCESS)
            events.append(MessageReceived(message))
            return
        if isinstance(message.body, Fragment):
            events += self._handle_fragment(message, now)
            return
        if header.encryption & RSA_ENCRYPTION:
            opened = self._decrypt(message, now)
            if isinstance(opened, list):
                events += opened
                return
            message = opened
        events += self._dispatch(message, now)

    def _handle_fragment(self, message: Message, now: float) -> list[SessionEvent]:
        header = message.header
        self.timers_changed = True
        try:
            done = self._reassembler.receive_fragment(message, now)
        except SubpackageError as error:
            self._general_response(header, error.result_code)
            self.stats.rejected += 1
            return [FrameRejected(error, error.result_code)]
        self._general_response(header, ResultCode.SUCCESS)  # each packet is acknowledged
        if done is None:
            return []
        if done.error is not None:
            self._general_response(done.header, done.error.result_code)
            self.stats.rejected += 1
            return [FrameRejected(done.error, done.error.result_code)]
        assert done.message is not None
        message = done.message
        if message.header.encryption & RSA_ENCRYPTION:
            opened = self._decrypt(message, now)
            if isinstance(opened, list):
                return opened
            message = opened
        return self._dispatch(message, now, packets_acknowledged=True)

    def _dispatch(
        self, message: Message, now: float, *, packets_acknowledged: bool = False
    ) -> list[SessionEvent]:
        header = message.header
        body = message.body
        if isinstance(body, TerminalRsaKey):
            return self._terminal_key(message, body)
        used = self._commands.match(message)
        if used is not None:
            return list(used)  # a command's reply: it goes to whoever sent the command
        events: list[SessionEvent] = []
        kind = uplink_reply(header.msg_id)
        if kind is UplinkReply.NONE:
            return [MessageReceived(message)]  # a late or unsolicited reply: keep it
        if kind in _TYPED_REPLIES and isinstance(body, RawBody):
            # Encryption bits this platform cannot open (reserved ones, or RSA before
            # authentication) left the body unread: nothing to decide on.
            return self._reject(
                UnsupportedMessageError(
                    f"0x{header.msg_id:04X} with encryption bits 0x{header.encryption:X} "
                    "cannot be read here",
                    header=header,
                ),
                now,
            )
        if kind is UplinkReply.REGISTRATION and isinstance(body, TerminalRegister):
            self._pending_decision = RegistrationReceived(header, body)
            return [self._pending_decision]
        if kind is UplinkReply.AUTHENTICATION and isinstance(body, TerminalAuthenticate):
            self._pending_decision = AuthenticationReceived(
                header, body.auth_code, body.imei, body.software_version
            )
            return [self._pending_decision]
        if header.msg_id == MessageId.TERMINAL_LOGOUT:
            if not self.authenticated:
                # Accepted, but an unauthenticated link must not revoke the auth code of the
                # phone it claims: nothing is revoked (docs/decisions.md, "Logout").
                self._general_response(header, ResultCode.SUCCESS)
                return events
            self._pending_decision = LogoutReceived(header)
            return [self._pending_decision]
        if header.msg_id == MessageId.HEARTBEAT:
            self._general_response(header, ResultCode.SUCCESS)
            return events
        if kind is UplinkReply.SERVER_TIME:
            now_utc = self._utc_now()
            if now_utc.tzinfo is None:  # a naive time from the wall clock is taken as UTC
                now_utc = now_utc.replace(tzinfo=UTC)
            now_utc = now_utc.astimezone(UTC).replace(microsecond=0)
            self._reply(MessageId.SERVER_TIME_RESPONSE, ServerTimeResponse(time=now_utc))
            return events
        if kind is UplinkReply.RESEND:
            return events + self._resend(message)
        if isinstance(body, RawBody):
            # Unknown id or an RSA body we hold no key for: "not supported", but delivered.
            self._general_response(header, ResultCode.UNSUPPORTED)
            return [*events, MessageReceived(message)]
        if kind is UplinkReply.MULTIMEDIA and isinstance(body, MultimediaData):
            self._reply(
                MessageId.MULTIMEDIA_DATA_RESPONSE, MultimediaDataResponse(media_id=body.media_id)
            )
        elif not packets_acknowledged:
            self._general_response(header, ResultCode.SUCCESS)
        return [*events, MessageReceived(message)]

    # ----------------------------------------------------------------------------------------
    # RSA body encryption

    def _decrypt(self, message: Message, now: float) -> Message | list[SessionEvent]:
        """The plain message of an RSA-encrypted one, or the events of refusing it."""
        header = message.header
        body = message.body
        if not isinstance(body, RawBody):  # pragma: no cover - decode keeps these raw
            return message
        if self._rsa is None or not self.authenticated:
            why = "holds no RSA key" if self._rsa is None else "decrypts only after authentication"
            return self._reject(
                UnsupportedMessageError(
                    f"0x{header.msg_id:04X} has an RSA-encrypted body and this platform {why}",
                    header=header,
                ),
                now,
            )
        try:
            data = self._rsa.decrypt(body.raw)
            plain, trailing = decode_body(header.msg_id, data, header.version)
        except ProtocolError as error:
            return self._reject(
                type(error)(f"0x{header.msg_id:04X} encrypted body: {error.message}",
                            header=header),
                now,
            )  # fmt: skip
        return Message(header, plain, trailing)

    def _terminal_key(self, message: Message, body: TerminalRsaKey) -> list[SessionEvent]:
        """0x0A00: the terminal's public key. Commands are encrypted with it from now on; a
        spontaneous one is answered with the platform's key (0x8A00), once per key, so that a
        terminal answering our 0x8A00 with its 0x0A00 does not start a ping-pong."""
        header = message.header
        if self._rsa is None:  # no encryption here; the reply to a raw 0x8A00 is still one
            used = self._commands.match(message)
            if used is not None:
                return list(used)
            self._general_response(header, ResultCode.UNSUPPORTED)
            return [MessageReceived(message)]
        try:
            key = RsaPublicKey.of(body)
        except RsaKeyError as error:
            self._general_response(header, ResultCode.MESSAGE_ERROR)
            self.stats.rejected += 1
            failure = RsaKeyError(f"0x0A00: {error.message}", header=header)
            return [FrameRejected(failure, ResultCode.MESSAGE_ERROR)]
        repeated = key == self.terminal_rsa_key and self._platform_key_sent
        self.terminal_rsa_key = key
        used = self._commands.match(message)
        if used is not None:
            return list(used)  # the answer to our 0x8A00 command
        if repeated:
            self._general_response(header, ResultCode.SUCCESS)
        else:
            self._reply(MessageId.PLATFORM_RSA_KEY, self._rsa.platform_body())
            self._platform_key_sent = True
        return [MessageReceived(message)]

    def _platform_key_command(self, body: Body) -> Body:
        """A 0x8A00 command carries this platform's key (the only one it can decrypt with):
        an empty body is filled in, another key is refused."""
        assert self._rsa is not None
        ours = self._rsa.platform_body()
        if isinstance(body, RawBody) and not body.raw:
            body = ours
        elif encode_body(body, self._version) != encode_body(ours, self._version):
            raise EncodeError(
                "0x8A00 must carry this gateway's own RSA key (send it with an empty body and "
                "the gateway fills it in): it could not decrypt what a terminal encrypts with "
                "another one"
            )
        self._platform_key_sent = True
        return body

    def _resend(self, message: Message) -> list[SessionEvent]:
        body = message.body
        if not isinstance(body, TerminalRetransmitRequest):  # raw: see _TYPED_REPLIES
            self._general_response(message.header, ResultCode.UNSUPPORTED)
            return [MessageRefused(message.header, "an unreadable retransmission request")]
        frames = self._sent.resend(body.original_serial, body.packet_ids)
        if not frames:
            self._general_response(message.header, ResultCode.FAILURE)
            return [MessageRefused(message.header, "nothing to resend for that serial")]
        for frame in frames:
            self._outgoing.append(frame)
            self.stats.frames_out += 1
        return []

    def _reject(self, error: ProtocolError, now: float) -> list[SessionEvent]:
        """A frame that does not decode: answer it when its header is trustworthy."""
        self.stats.rejected += 1
        self._bad_frames += 1
        answered: ResultCode | None = None
        header = error.header
        # The header of a damaged frame may itself be damaged: answer it in its own terms, but
        # never take the session's identity from it.
        if header is not None and (self.phone is None or header.phone == self.phone):
            answered = error.result_code
            self._general_response(header, answered)
        events: list[SessionEvent] = [FrameRejected(error, answered)]
        if self._bad_frames >= self.limits.max_bad_frames:
            events += self.close(CloseReason.UNRECOVERABLE_STREAM, now)
        return events

    def _refuse(self, header: Header, reason: str, now: float) -> list[SessionEvent]:
        self.stats.refused += 1
        self._refused += 1
        if header.phone == self.phone:
            self._general_response(header, ResultCode.FAILURE)
        events: list[SessionEvent] = [MessageRefused(header, reason)]
        if self._refused >= self.limits.max_refused_messages:
            events += self.close(CloseReason.TOO_MANY_REFUSED, now)
        return events

    def _count_authentication_failure(self, now: float) -> list[SessionEvent]:
        self._authentication_failures += 1
        if self._authentication_failures >= self.limits.max_authentication_attempts:
            return self.close(CloseReason.AUTHENTICATION_FAILED, now)
        return []

    def _take_decision(self, request: Decision) -> bool:
        """True when ``request`` is the decision awaited; False when the session closed since
        (an answer arriving after a timeout or the peer's EOF is ignored)."""
        if self.state is SessionState.CLOSED:
            return False
        if self._pending_decision is not request:
            raise RuntimeError("that decision is not the one this session is waiting for")
        self._pending_decision = None
        return True

    # ----------------------------------------------------------------------------------------
    # Output

    @property
    def _version(self) -> ProtocolVersion:
        return self.version if self.version is not None else V2011

    def _next_serial(self) -> int:
        serial = self._serial
        self._serial = (serial + 1) % SERIAL_MODULUS
        return serial

    def _header(self, msg_id: int, serial: int) -> Header:
        assert self.phone is not None
        # encode_header writes the 2019 version byte (1 when unset) and ignores it before 2019.
        return Header(msg_id, self.phone, serial, self._version, self.protocol_version)

    def _general_response(self, header: Header, result: ResultCode) -> None:
        """0x8001 for the message with ``header``, written in that message's own header form
        (from a template: this is the reply to every report)."""
        template = self._ack_template
        if template is None or not template.matches(
            header.phone, header.version, header.protocol_version
        ):
            template = self._ack_template = GeneralResponseTemplate(
                header.phone, header.version, header.protocol_version
            )
        serial = self._serial
        self._serial = (serial + 1) % SERIAL_MODULUS
        self._queue(
            MessageId.PLATFORM_GENERAL_RESPONSE,
            template.frame(serial, header.serial, header.msg_id, result),
        )

    def _reply(self, msg_id: int, body: Body) -> None:
        if self.phone is None:
            return
        self._queue(msg_id, encode(self._header(msg_id, self._next_serial()), body))

    def _queue(self, msg_id: int, frame: bytes) -> None:
        self._outgoing.append(frame)
        self.stats.frames_out += 1
        counts = self.stats.messages_out
        counts[msg_id] = counts.get(msg_id, 0) + 1
