"""An in-memory link between a scripted terminal and a ``TerminalSession`` (no sockets, no clock).

Modelled on pymodbus's ``NullModem``: the test plays the terminal, the modem carries its bytes to
the session the way a transport would, and can

* cut every write into chunks at arbitrary points (``whole``, ``byte_by_byte``, ``split_at``,
  ``cycling`` and the hypothesis strategy ``chunkers``);
* damage bytes on the way (``corrupt``, ``with_bad_checksum``);
* hold the rest of a write back while the session waits for a decision, as the server's reader
  stops reading then (``TerminalSession.receive_data`` must not be called meanwhile);
* move time forward explicitly: ``advance`` fires ``handle_timer`` at each deadline on the way.

The terminal side (``Terminal``) encodes its frames with ``gateway.protocol.encode`` and decodes
the platform's replies with ``FrameDecoder`` + ``decode_packet``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from gateway.protocol.bodies.general import Heartbeat
from gateway.protocol.bodies.location import LocationReport
from gateway.protocol.bodies.registration import (
    RegisterResult,
    TerminalAuthenticate,
    TerminalRegister,
)
from gateway.protocol.body import Body
from gateway.protocol.encryption import RsaKeyPair
from gateway.protocol.errors import FramingError
from gateway.protocol.framing import FrameDecoder, encode_frame, escape, split_frame
from gateway.protocol.header import Header, PacketInfo, encode_header
from gateway.protocol.message import Message, decode_packet, encode, encode_body
from gateway.protocol.session import (
    AuthenticationReceived,
    LogoutReceived,
    RegistrationReceived,
    SessionEvent,
    SessionLimits,
    TerminalSession,
)
from gateway.protocol.subpackage import SplitMessage, encode_split
from gateway.protocol.versions import V2019, ProtocolVersion
from gateway.protocol.wire import CHINA_TZ

PHONE_2013: str = "013912345678"
PHONE_2019: str = "12345678901234567890"
AUTH_CODE: str = "AUTH-7Q2X"
LOCATION_TIME = datetime(2024, 5, 6, 7, 8, 9, tzinfo=CHINA_TZ)

# --------------------------------------------------------------------------------------------
# Chunkings and damage

Chunker = Callable[[bytes], list[bytes]]


def whole(data: bytes) -> list[bytes]:
    """The write arrives in one piece."""
    return [data]


def byte_by_byte(data: bytes) -> list[bytes]:
    """Every byte of the write arrives on its own."""
    return [data[i : i + 1] for i in range(len(data))]


def split_at(*points: int) -> Chunker:
    """Cut each write at the given offsets (offsets past its end are ignored)."""

    def chunk(data: bytes) -> list[bytes]:
        cuts = sorted({p for p in points if 0 < p < len(data)})
        return [data[a:b] for a, b in itertools.pairwise([0, *cuts, len(data)])]

    return chunk


def cycling(sizes: Iterable[int]) -> Chunker:
    """Cut each write into chunks of the given sizes, repeated until the write is used up."""
    pattern = [max(1, size) for size in sizes] or [1]

    def chunk(data: bytes) -> list[bytes]:
        pieces: list[bytes] = []
        position = 0
        for size in itertools.cycle(pattern):
            if position >= len(data):
                return pieces
            pieces.append(data[position : position + size])
            position += size
        raise AssertionError("unreachable")  # pragma: no cover

    return chunk


def chunkers() -> st.SearchStrategy[Chunker]:
    """Random chunkings: repeating patterns of chunk sizes from 1 to 64 bytes."""
    return st.lists(st.integers(1, 64), min_size=1, max_size=8).map(cycling)


def corrupt(data: bytes, index: int, value: int) -> bytes:
    """``data`` with the byte at ``index`` replaced by ``value``."""
    return data[:index] + bytes((value,)) + data[index + 1 :]


def with_bad_checksum(frame: bytes) -> bytes:
    """The same frame with a wrong check code (escaped and delimited properly)."""
    packet = split_frame(frame)
    return b"\x7e" + escape(packet[:-1] + bytes((packet[-1] ^ 0x01,))) + b"\x7e"


# --------------------------------------------------------------------------------------------
# The terminal side


def location(**changes: Any) -> LocationReport:
    """A plausible 0x0200 body (Shenzhen, 60 km/h, heading east)."""
    report = LocationReport(
        alarm=0,
        status=0x0002,
        latitude=22.543096,
        longitude=114.057865,
        altitude=12,
        speed=60.0,
        direction=90,
        time=LOCATION_TIME,
    )
    return dataclasses.replace(report, **changes)


class Terminal:
    """A scripted terminal: builds its frames (own serial counter) and reads the platform's."""

    def __init__(
        self,
        version: ProtocolVersion,
        *,
        phone: str | None = None,
        protocol_version: int | None = None,
        first_serial: int = 0,
    ) -> None:
        self.version = version
        self.phone = (
            phone if phone is not None else (PHONE_2019 if version is V2019 else PHONE_2013)
        )
        self.protocol_version = (
            protocol_version if protocol_version is not None else (1 if version is V2019 else 0)
        )
        self._serial = first_serial % 0x10000
        self._decoder = FrameDecoder()

    # ---- writing ---------------------------------------------------------------------------

    def next_serial(self) -> int:
        serial = self._serial
        self._serial = (serial + 1) % 0x10000
        return serial

    @property
    def last_serial(self) -> int:
        """The serial of the frame built last."""
        return (self._serial - 1) % 0x10000

    def header(
        self,
        msg_id: int,
        *,
        serial: int | None = None,
        phone: str | None = None,
        packet: PacketInfo | None = None,
    ) -> Header:
        return Header(
            msg_id,
            self.phone if phone is None else phone,
            self.next_serial() if serial is None else serial,
            self.version,
            self.protocol_version,
            0,
            packet,
        )

    def frame(
        self,
        body: Body,
        *,
        msg_id: int | None = None,
        serial: int | None = None,
        phone: str | None = None,
    ) -> bytes:
        """One frame carrying ``body`` in this terminal's revision."""
        header = self.header(body.MSG_ID if msg_id is None else msg_id, serial=serial, phone=phone)
        return encode(header, body)

    def raw_frame(self, msg_id: int, data: bytes, *, serial: int | None = None) -> bytes:
        """One frame whose body is ``data`` as given (for truncated or unknown bodies)."""
        header = self.header(msg_id, serial=serial)
        return encode_frame(encode_header(header, len(data)) + data)

    def split(self, body: Body, *, max_size: int = 1023) -> SplitMessage:
        """The packets of a body too long for one frame, with consecutive serials."""
        template = self.header(body.MSG_ID, serial=0)  # encode_split gives each its serial
        return encode_split(
            template, encode_body(body, self.version), self.next_serial, max_size=max_size
        )

    def registration(self, **changes: Any) -> bytes:
        body = TerminalRegister(
            province_id=44,
            city_id=300,
            manufacturer_id="ACME1",
            terminal_model="TK-1",
            terminal_id="T000001",
            plate_color=1,
            plate="A12345",
        )
        return self.frame(dataclasses.replace(body, **changes))

    def authentication(self, auth_code: str = AUTH_CODE) -> bytes:
        body = TerminalAuthenticate(auth_code=auth_code)
        if self.version is V2019:
            body = TerminalAuthenticate(
                auth_code=auth_code, imei="861234567890123", software_version="2.1.0"
            )
        return self.frame(body)

    def heartbeat(self, *, serial: int | None = None) -> bytes:
        return self.frame(Heartbeat(), serial=serial)

    def location(self, **changes: Any) -> bytes:
        return self.frame(location(**changes))

    # ---- reading ---------------------------------------------------------------------------

    def receive(self, data: bytes) -> list[Message]:
        """The platform's messages in ``data`` (the platform must never send broken frames)."""
        messages: list[Message] = []
        for event in self._decoder.feed(data):
            if isinstance(event, FramingError):
                raise AssertionError(f"the platform sent a broken frame: {event}")
            messages.append(decode_packet(event, version_hint=self.version))
        return messages


# --------------------------------------------------------------------------------------------
# The link


@dataclass(frozen=True, slots=True)
class Autopilot:
    """Answers every decision the way a simple auth backend would: registration succeeds with
    ``auth_code``; authentication is accepted when it presents that code; logout is confirmed."""

    auth_code: str = AUTH_CODE


class NullModem:
    """Carries a ``Terminal``'s writes to a ``TerminalSession`` and the replies back."""

    def __init__(
        self,
        terminal: Terminal,
        *,
        limits: SessionLimits | None = None,
        now: float = 0.0,
        utc_now: Callable[[], datetime] | None = None,
        chunker: Chunker = whole,
        autopilot: Autopilot | None = None,
        rsa: RsaKeyPair | None = None,
    ) -> None:
        self.terminal = terminal
        self.now = now
        self.chunker = chunker
        self.autopilot = autopilot
        if utc_now is None:
            self.session = TerminalSession(limits, now=now, rsa=rsa)
        else:
            self.session = TerminalSession(limits, now=now, utc_now=utc_now, rsa=rsa)
        self._inbox: deque[bytes] = deque()

    # ---- terminal → platform ---------------------------------------------------------------

    def send(self, *frames: bytes) -> list[SessionEvent]:
        """The terminal writes ``frames`` (one write); returns the events they produced so far.

        Bytes behind a frame that needs a decision stay in the modem until it is answered.
        """
        self._inbox.extend(self.chunker(b"".join(frames)))
        return self.pump()

    @property
    def held_back(self) -> int:
        """Bytes written by the terminal that the session has not been given yet."""
        return sum(map(len, self._inbox))

    def pump(self) -> list[SessionEvent]:
        """Hand the session the bytes it may read now (answering decisions on autopilot)."""
        events: list[SessionEvent] = []
        while True:
            decision = self.session.awaiting_decision
            if decision is not None:
                if self.autopilot is None:
                    return events
                events += self._answer_automatically(decision)
                continue
            if not self._inbox:
                return events
            events += self.session.receive_data(self._inbox.popleft(), self.now)

    def _answer_automatically(
        self, decision: RegistrationReceived | AuthenticationReceived | LogoutReceived
    ) -> list[SessionEvent]:
        assert self.autopilot is not None
        session = self.session
        if isinstance(decision, RegistrationReceived):
            return session.answer_registration(
                decision, RegisterResult.SUCCESS, self.autopilot.auth_code, self.now
            )
        if isinstance(decision, AuthenticationReceived):
            accepted = decision.auth_code == self.autopilot.auth_code
            return session.answer_authentication(decision, accepted, self.now)
        return session.answer_logout(decision, self.now)

    # ---- decisions -------------------------------------------------------------------------

    def answer_registration(
        self,
        result: RegisterResult = RegisterResult.SUCCESS,
        auth_code: str = AUTH_CODE,
        *,
        device_name: str = "",
    ) -> list[SessionEvent]:
        decision = self.session.awaiting_decision
        assert isinstance(decision, RegistrationReceived), decision
        events = self.session.answer_registration(
            decision, result, auth_code, self.now, device_name=device_name
        )
        return events + self.pump()

    def answer_authentication(
        self, accepted: bool = True, *, device_name: str = ""
    ) -> list[SessionEvent]:
        decision = self.session.awaiting_decision
        assert isinstance(decision, AuthenticationReceived), decision
        events = self.session.answer_authentication(
            decision, accepted, self.now, device_name=device_name
        )
        return events + self.pump()

    def answer_logout(self) -> list[SessionEvent]:
        decision = self.session.awaiting_decision
        assert isinstance(decision, LogoutReceived), decision
        return self.session.answer_logout(decision, self.now) + self.pump()

    def log_in(self) -> list[SessionEvent]:
        """Register and authenticate (the usual opening); returns the events."""
        if self.autopilot is not None:
            return self.send(
                self.terminal.registration(), self.terminal.authentication(self.autopilot.auth_code)
            )
        events = self.send(self.terminal.registration())
        events += self.answer_registration()
        events += self.send(self.terminal.authentication())
        events += self.answer_authentication()
        return events

    # ---- platform → terminal ---------------------------------------------------------------

    def replies(self) -> list[Message]:
        """Everything the session queued for the terminal since the last call, decoded."""
        return self.terminal.receive(self.session.data_to_send())

    # ---- time ------------------------------------------------------------------------------

    def advance(self, seconds: float) -> list[SessionEvent]:
        """Move the clock forward, running ``handle_timer`` at every deadline on the way (as
        the server's loop does when it sleeps until ``next_deadline``)."""
        return self.advance_to(self.now + seconds)

    def advance_to(self, when: float) -> list[SessionEvent]:
        events: list[SessionEvent] = []
        for _ in range(10_000):
            deadline = self.session.next_deadline()
            if deadline is None or deadline > when:
                break
            self.now = max(self.now, deadline)
            events += self.session.handle_timer(self.now)
        else:  # pragma: no cover - a deadline that never moves on is a session bug
            raise AssertionError("handle_timer does not move next_deadline forward")
        self.now = max(self.now, when)
        return events
