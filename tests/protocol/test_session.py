"""The terminal session (sans-I/O state machine), driven through an in-memory null modem.

Each test plays a terminal: it writes frames, answers the session's decisions as the auth
backend would, moves the clock by hand and reads back what the platform sent. Reply rules follow
the reference §6 (which message answers which, session life-cycle, sub-packaging).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given

from gateway.protocol import (
    V2011,
    V2013,
    V2019,
    ChecksumError,
    GarbageError,
    HeaderError,
    ProtocolVersion,
    RawBody,
    ResultCode,
    TruncatedBodyError,
)
from gateway.protocol.bodies.general import (
    PlatformGeneralResponse,
    PlatformRetransmitRequest,
    QueryServerTime,
    ServerTimeResponse,
    TerminalLogout,
)
from gateway.protocol.bodies.location import LocationBatch
from gateway.protocol.bodies.multimedia import MultimediaData, MultimediaDataResponse
from gateway.protocol.bodies.registration import RegisterResult, TerminalRegisterResponse
from gateway.protocol.framing import encode_frame, split_frame
from gateway.protocol.header import PacketInfo, encode_header
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
    SessionLimits,
    SessionState,
    TerminalAuthenticated,
    TerminalLoggedOut,
    TerminalRegistered,
    TerminalSession,
)
from gateway.protocol.subpackage import DropReason, PartialMessageDropped
from gateway.protocol.wire import CHINA_TZ

from .null_modem import (
    AUTH_CODE,
    Autopilot,
    Chunker,
    NullModem,
    Terminal,
    byte_by_byte,
    chunkers,
    corrupt,
    location,
    split_at,
    whole,
    with_bad_checksum,
)
from .real_frames import real_frame_bytes

ALL_VERSIONS = pytest.mark.parametrize("version", [V2011, V2013, V2019])
SUBPACKAGE_VERSIONS = pytest.mark.parametrize("version", [V2013, V2019])

GENERAL = MessageId.PLATFORM_GENERAL_RESPONSE
UNKNOWN_ID = 0x0F01  # an id no body layout claims


def ack(serial: int, msg_id: int, result: int = ResultCode.SUCCESS) -> PlatformGeneralResponse:
    """The 0x8001 the platform owes a terminal message."""
    return PlatformGeneralResponse(reply_serial=serial, reply_id=msg_id, result=int(result))


def bodies(messages: list[Message]) -> list[object]:
    return [message.body for message in messages]


def logged_in(version: ProtocolVersion = V2013, **modem_options: Any) -> NullModem:
    """A modem whose terminal has registered and authenticated at time 0 (replies drained)."""
    modem = NullModem(Terminal(version), **modem_options)
    modem.log_in()
    modem.replies()
    return modem


def pending(modem: NullModem) -> object:
    """The decision the session waits for (a call, so that type checkers do not narrow it)."""
    return modem.session.awaiting_decision


def general_responses(messages: list[Message]) -> list[PlatformGeneralResponse]:
    """The 0x8001 bodies among ``messages`` (asserting every message is one)."""
    found = [message.body for message in messages]
    assert all(isinstance(body, PlatformGeneralResponse) for body in found), found
    return [body for body in found if isinstance(body, PlatformGeneralResponse)]


def types(events: list[SessionEvent]) -> list[type]:
    return [type(event) for event in events]


# --------------------------------------------------------------------------------------------
# Happy path in each revision


@ALL_VERSIONS
def test_registration_waits_for_a_decision_then_0x8100_carries_the_auth_code(
    version: ProtocolVersion,
) -> None:
    terminal = Terminal(version)
    modem = NullModem(terminal)

    events = modem.send(terminal.registration())

    [decision] = events
    assert isinstance(decision, RegistrationReceived)
    assert decision.header.serial == terminal.last_serial
    assert decision.body.plate == "A12345"
    assert pending(modem) is decision
    assert modem.session.version is version
    assert modem.replies() == []  # nothing is answered before the backend decided

    events = modem.answer_registration(RegisterResult.SUCCESS, AUTH_CODE, device_name="bus 12")

    assert events == [TerminalRegistered(terminal.phone, "bus 12")]
    assert modem.session.state is SessionState.REGISTERED
    assert pending(modem) is None
    assert bodies(modem.replies()) == [
        TerminalRegisterResponse(
            reply_serial=decision.header.serial, result=RegisterResult.SUCCESS, auth_code=AUTH_CODE
        )
    ]


@ALL_VERSIONS
def test_accepted_authentication_is_answered_0x8001_result_0_and_authenticates(
    version: ProtocolVersion,
) -> None:
    terminal = Terminal(version)
    modem = NullModem(terminal)
    modem.send(terminal.registration())
    modem.answer_registration()
    modem.replies()
    modem.now = 5.0

    [decision] = modem.send(terminal.authentication(AUTH_CODE))

    assert isinstance(decision, AuthenticationReceived)
    assert decision.auth_code == AUTH_CODE
    if version is V2019:
        assert (decision.imei, decision.software_version) == ("861234567890123", "2.1.0")
    assert modem.replies() == []
    events = modem.answer_authentication(True, device_name="bus 12")

    assert events == [TerminalAuthenticated(terminal.phone, version, "bus 12")]
    assert modem.session.authenticated
    assert modem.session.authenticated_at == 5.0
    assert bodies(modem.replies()) == [ack(decision.header.serial, 0x0102)]


@ALL_VERSIONS
def test_a_location_after_authentication_is_delivered_and_acknowledged_with_its_serial_and_id(
    version: ProtocolVersion,
) -> None:
    modem = logged_in(version)
    terminal = modem.terminal

    [event] = modem.send(terminal.location(speed=42.5))

    assert isinstance(event, MessageReceived)
    assert event.message.header.serial == terminal.last_serial
    assert event.message.body == location(speed=42.5)
    assert bodies(modem.replies()) == [ack(terminal.last_serial, 0x0200)]


@ALL_VERSIONS
def test_a_heartbeat_is_answered_with_0x8001_result_0_and_not_delivered(
    version: ProtocolVersion,
) -> None:
    modem = logged_in(version)

    assert modem.send(modem.terminal.heartbeat()) == []

    assert bodies(modem.replies()) == [ack(modem.terminal.last_serial, 0x0002)]


@ALL_VERSIONS
def test_replies_use_the_header_form_and_phone_of_the_terminal(version: ProtocolVersion) -> None:
    modem = NullModem(Terminal(version), autopilot=Autopilot())
    modem.log_in()
    modem.send(modem.terminal.heartbeat())

    replies = modem.replies()

    assert len(replies) == 3
    for reply in replies:
        assert (reply.header.version is V2019) == (version is V2019)
        assert reply.header.phone == modem.terminal.phone
        assert reply.header.protocol_version == (1 if version is V2019 else 0)
        assert reply.header.packet is None


def test_a_2011_registration_body_makes_a_2011_session_answered_in_the_2013_header_form() -> None:
    terminal = Terminal(V2011, phone="012345678901")
    modem = NullModem(terminal)

    [decision] = modem.send(real_frame_bytes("v196"))  # a real 2011 0x0100 (32-byte body)

    assert isinstance(decision, RegistrationReceived)
    assert modem.session.version is V2011
    modem.answer_registration(auth_code="A1")
    frame = modem.session.data_to_send()
    packet = split_frame(frame)
    properties = int.from_bytes(packet[2:4], "big")
    assert properties & 0x4000 == 0  # no 2019 version flag
    assert packet[4:10] == bytes.fromhex("012345678901")  # the 6-byte BCD phone follows
    assert len(packet) == 12 + (properties & 0x3FF) + 1  # a 12-byte header
    # the 2011 authentication (the whole body is the code) is read in the 2011 layout
    [auth] = modem.send(terminal.authentication("A1"))
    assert isinstance(auth, AuthenticationReceived)
    assert auth.auth_code == "A1"
    assert modem.answer_authentication() == [TerminalAuthenticated(terminal.phone, V2011, "")]


def test_2019_replies_echo_the_terminals_protocol_version_byte() -> None:
    modem = NullModem(Terminal(V2019, protocol_version=2))

    modem.send(modem.terminal.heartbeat())

    [reply] = modem.replies()
    assert reply.header.version is V2019
    assert reply.header.protocol_version == 2
    assert modem.session.protocol_version == 2


def test_the_platform_serial_counts_each_message_from_zero() -> None:
    modem = NullModem(Terminal(V2013), autopilot=Autopilot())
    modem.log_in()

    modem.send(*(modem.terminal.heartbeat() for _ in range(3)))

    assert [reply.header.serial for reply in modem.replies()] == [0, 1, 2, 3, 4]


def test_the_platform_serial_wraps_from_65535_to_0() -> None:
    terminal = Terminal(V2013)
    modem = NullModem(terminal)

    modem.send(*(terminal.heartbeat(serial=n % 0x10000) for n in range(0x10001)))

    replies = modem.replies()
    assert len(replies) == 0x10001
    assert [reply.header.serial for reply in replies[-3:]] == [0xFFFE, 0xFFFF, 0]


# --------------------------------------------------------------------------------------------
# Real frames: the replies other implementations computed for them


def test_real_2013_heartbeat_gets_the_reference_reply() -> None:
    modem = NullModem(Terminal(V2013))

    modem.send(bytes.fromhex("7e000200000123456789017fff0a7e"))

    assert modem.session.data_to_send() == real_frame_bytes("v244")


def test_real_2019_heartbeat_gets_the_reference_reply() -> None:
    modem = NullModem(Terminal(V2019))

    modem.send(real_frame_bytes("v246"))

    assert modem.session.data_to_send() == real_frame_bytes("v245")


def test_real_2019_registration_gets_the_reference_0x8100() -> None:
    modem = NullModem(Terminal(V2019))

    [decision] = modem.send(real_frame_bytes("v198"))
    assert isinstance(decision, RegistrationReceived)
    modem.answer_registration(RegisterResult.SUCCESS, "17299841738")

    assert modem.session.data_to_send() == real_frame_bytes("v248")


def test_real_2019_authentication_gets_the_reference_0x8001() -> None:
    modem = NullModem(Terminal(V2019))

    [decision] = modem.send(real_frame_bytes("v195"))
    assert isinstance(decision, AuthenticationReceived)
    assert decision.auth_code == "17299841738"
    modem.answer_authentication(True)

    assert modem.session.data_to_send() == real_frame_bytes("v247")


def test_real_2013_location_gets_the_reference_0x8001() -> None:
    """Reference §8 item 3: the reply with platform serial 1 (serial 0 answered the 0x0102)."""
    terminal = Terminal(V2013, phone="000000000000")
    modem = NullModem(terminal, autopilot=Autopilot())
    modem.send(terminal.authentication())
    modem.session.data_to_send()

    [event] = modem.send(
        bytes.fromhex(
            "7e02000032000000000000022500000000000c00020000000000000000007100000146260615105725"
            "01040000006430011f31010ce10200722b04ab560000487e"
        )
    )

    assert isinstance(event, MessageReceived)
    assert modem.session.data_to_send() == bytes.fromhex("7e8001000500000000000000010225020000a07e")


# --------------------------------------------------------------------------------------------
# Before authentication


def test_a_location_before_authentication_is_refused_with_result_1_and_not_delivered() -> None:
    terminal = Terminal(V2013)
    modem = NullModem(terminal)

    [event] = modem.send(terminal.location())

    assert isinstance(event, MessageRefused)
    assert event.header.msg_id == 0x0200
    assert event.reason == "not authenticated"
    assert bodies(modem.replies()) == [ack(terminal.last_serial, 0x0200, ResultCode.FAILURE)]
    assert modem.session.stats.refused == 1


def test_registration_alone_does_not_open_the_session_to_data() -> None:
    terminal = Terminal(V2013)
    modem = NullModem(terminal)
    modem.send(terminal.registration())
    modem.answer_registration()
    modem.replies()

    [event] = modem.send(terminal.location())

    assert isinstance(event, MessageRefused)
    assert bodies(modem.replies()) == [ack(terminal.last_serial, 0x0200, ResultCode.FAILURE)]


def test_max_refused_messages_before_authentication_close_the_session() -> None:
    terminal = Terminal(V2013)
    modem = NullModem(terminal, limits=SessionLimits(max_refused_messages=3))

    events = modem.send(*(terminal.location() for _ in range(5)))

    assert types(events) == [MessageRefused, MessageRefused, MessageRefused, SessionClosed]
    assert events[-1] == SessionClosed(CloseReason.TOO_MANY_REFUSED)
    assert modem.session.state is SessionState.CLOSED
    assert modem.session.close_reason is CloseReason.TOO_MANY_REFUSED
    # the refusal that closed the session still goes out; nothing after it was read
    assert bodies(modem.replies()) == [
        ack(serial, 0x0200, ResultCode.FAILURE) for serial in range(3)
    ]


def test_a_heartbeat_before_authentication_is_answered_with_result_0() -> None:
    terminal = Terminal(V2013)
    modem = NullModem(terminal)

    assert modem.send(terminal.heartbeat()) == []

    assert bodies(modem.replies()) == [ack(terminal.last_serial, 0x0002)]
    assert modem.session.stats.refused == 0


def test_an_unknown_message_id_before_authentication_is_refused() -> None:
    terminal = Terminal(V2013)
    modem = NullModem(terminal)

    [event] = modem.send(terminal.raw_frame(UNKNOWN_ID, b"\x01"))

    assert isinstance(event, MessageRefused)
    assert bodies(modem.replies()) == [ack(terminal.last_serial, UNKNOWN_ID, ResultCode.FAILURE)]


# --------------------------------------------------------------------------------------------
# Failed registration and authentication


def test_a_rejected_authentication_is_answered_result_1_and_data_stays_refused() -> None:
    terminal = Terminal(V2013)
    modem = NullModem(terminal)
    [decision] = modem.send(terminal.authentication("WRONG"))
    assert isinstance(decision, AuthenticationReceived)

    assert modem.answer_authentication(False) == []

    assert bodies(modem.replies()) == [ack(decision.header.serial, 0x0102, ResultCode.FAILURE)]
    assert not modem.session.authenticated
    assert types(modem.send(terminal.location())) == [MessageRefused]


def test_max_authentication_attempts_failures_close_the_session() -> None:
    terminal = Terminal(V2013)
    modem = NullModem(terminal, limits=SessionLimits(max_authentication_attempts=2))
    modem.send(terminal.authentication("WRONG"))
    assert modem.answer_authentication(False) == []

    modem.send(terminal.authentication("WRONG AGAIN"))
    events = modem.answer_authentication(False)

    assert events == [SessionClosed(CloseReason.AUTHENTICATION_FAILED)]
    assert [reply.body for reply in modem.replies()] == [
        ack(0, 0x0102, ResultCode.FAILURE),
        ack(1, 0x0102, ResultCode.FAILURE),
    ]


def test_a_failed_registration_is_answered_with_its_result_and_no_auth_code() -> None:
    terminal = Terminal(V2013)
    modem = NullModem(terminal)
    [decision] = modem.send(terminal.registration())
    assert isinstance(decision, RegistrationReceived)

    events = modem.answer_registration(RegisterResult.TERMINAL_NOT_FOUND, "IGNORED")

    assert events == []
    assert modem.session.state is SessionState.CONNECTED
    frame = modem.session.data_to_send()
    packet = split_frame(frame)
    assert int.from_bytes(packet[2:4], "big") & 0x3FF == 3  # reply serial + result, no code
    [reply] = modem.terminal.receive(frame)
    assert reply.body == TerminalRegisterResponse(
        reply_serial=decision.header.serial, result=RegisterResult.TERMINAL_NOT_FOUND
    )


def test_failed_registrations_count_toward_max_authentication_attempts() -> None:
    terminal = Terminal(V2013)
    modem = NullModem(terminal, limits=SessionLimits(max_authentication_attempts=2))
    modem.send(terminal.registration())
    assert modem.answer_registration(RegisterResult.VEHICLE_NOT_FOUND) == []
    modem.send(terminal.registration())

    events = modem.answer_registration(RegisterResult.VEHICLE_NOT_FOUND)

    assert events == [SessionClosed(CloseReason.AUTHENTICATION_FAILED)]


# --------------------------------------------------------------------------------------------
# Decisions hold back what follows (pipelining)


@pytest.mark.parametrize("chunker", [whole, byte_by_byte], ids=["one-chunk", "byte-by-byte"])
def test_a_location_pipelined_behind_authentication_waits_for_the_decision_then_is_delivered(
    chunker: Chunker,
) -> None:
    terminal = Terminal(V2013)
    modem = NullModem(terminal, chunker=chunker)
    auth = terminal.authentication()
    auth_serial = terminal.last_serial
    report = terminal.location()

    events = modem.send(auth + report)  # one write

    assert types(events) == [AuthenticationReceived]
    assert modem.replies() == []
    if chunker is byte_by_byte:  # the reader stopped right after the 0x0102
        assert modem.held_back == len(report)
    events = modem.answer_authentication(True)
    assert types(events) == [TerminalAuthenticated, MessageReceived]
    assert modem.held_back == 0
    assert bodies(modem.replies()) == [ack(auth_serial, 0x0102), ack(auth_serial + 1, 0x0200)]


def test_a_location_pipelined_behind_a_rejected_authentication_is_refused() -> None:
    terminal = Terminal(V2013)
    modem = NullModem(terminal)
    events = modem.send(terminal.authentication("WRONG") + terminal.location())
    assert types(events) == [AuthenticationReceived]

    events = modem.answer_authentication(False)

    assert types(events) == [MessageRefused]
    assert [general.result for general in general_responses(modem.replies())] == [1, 1]


def test_a_whole_login_in_one_write_stops_at_each_decision() -> None:
    terminal = Terminal(V2019)
    modem = NullModem(terminal)

    events = modem.send(terminal.registration(), terminal.authentication(), terminal.location())

    assert types(events) == [RegistrationReceived]
    assert types(modem.answer_registration()) == [TerminalRegistered, AuthenticationReceived]
    assert types(modem.answer_authentication()) == [TerminalAuthenticated, MessageReceived]


def test_receiving_data_while_a_decision_is_pending_raises() -> None:
    terminal = Terminal(V2013)
    modem = NullModem(terminal)
    modem.send(terminal.registration())

    with pytest.raises(RuntimeError, match="pending decision"):
        modem.session.receive_data(terminal.heartbeat(), 0.0)


def test_answering_a_decision_the_session_is_not_waiting_for_raises() -> None:
    terminal = Terminal(V2013)
    modem = NullModem(terminal)
    [decision] = modem.send(terminal.registration())
    assert isinstance(decision, RegistrationReceived)
    session = modem.session
    lookalike = dataclasses.replace(decision)  # equal, but not the request this session made

    with pytest.raises(RuntimeError):
        session.answer_registration(lookalike, RegisterResult.SUCCESS, AUTH_CODE, 0.0)
    assert session.awaiting_decision is decision  # still waiting for the real one

    session.answer_registration(decision, RegisterResult.SUCCESS, AUTH_CODE, 0.0)
    with pytest.raises(RuntimeError):  # answered twice
        session.answer_registration(decision, RegisterResult.SUCCESS, AUTH_CODE, 0.0)


def test_an_answer_from_another_session_is_refused() -> None:
    first = NullModem(Terminal(V2013))
    second = NullModem(Terminal(V2013))
    [foreign] = first.send(first.terminal.authentication())
    second.send(second.terminal.authentication())
    assert isinstance(foreign, AuthenticationReceived)

    with pytest.raises(RuntimeError):
        second.session.answer_authentication(foreign, True, 0.0)
    assert not second.session.authenticated


def test_an_answer_arriving_after_the_session_closed_is_ignored() -> None:
    terminal = Terminal(V2013)
    modem = NullModem(terminal)
    [decision] = modem.send(terminal.authentication())
    assert isinstance(decision, AuthenticationReceived)
    assert modem.advance(60.0) == [SessionClosed(CloseReason.AUTHENTICATION_TIMEOUT)]

    assert modem.session.answer_authentication(decision, True, 61.0) == []
    assert modem.session.data_to_send() == b""
    assert modem.session.state is SessionState.CLOSED


# --------------------------------------------------------------------------------------------
# Logout


def test_logout_is_a_decision_answered_with_0x8001_and_the_session_goes_back_to_connected() -> None:
    modem = logged_in(V2013)
    terminal = modem.terminal

    [decision] = modem.send(terminal.frame(TerminalLogout()))

    assert isinstance(decision, LogoutReceived)
    assert modem.replies() == []
    assert modem.answer_logout() == [TerminalLoggedOut(terminal.phone)]
    assert bodies(modem.replies()) == [ack(terminal.last_serial, 0x0003)]
    assert modem.session.state is SessionState.CONNECTED
    assert modem.session.authenticated_at is None


def test_a_logout_the_backend_could_not_revoke_is_answered_1_and_the_session_stays() -> None:
    modem = logged_in(V2013)
    terminal = modem.terminal
    [decision] = modem.send(terminal.frame(TerminalLogout()))
    assert isinstance(decision, LogoutReceived)

    events = modem.session.answer_logout(decision, modem.now, revoked=False)

    assert events == []
    assert bodies(modem.replies()) == [ack(terminal.last_serial, 0x0003, result=1)]
    assert modem.session.state is SessionState.AUTHENTICATED


def test_data_after_logout_is_refused() -> None:
    modem = logged_in(V2013)
    modem.send(modem.terminal.frame(TerminalLogout()))
    modem.answer_logout()
    modem.replies()

    [event] = modem.send(modem.terminal.location())

    assert isinstance(event, MessageRefused)
    assert bodies(modem.replies()) == [ack(modem.terminal.last_serial, 0x0200, ResultCode.FAILURE)]


def test_logout_restarts_the_authentication_timer() -> None:
    modem = logged_in(V2013)
    modem.advance(100.0)
    modem.send(modem.terminal.frame(TerminalLogout()))
    modem.answer_logout()

    assert modem.session.next_deadline() == 160.0
    assert modem.advance(60.0) == [SessionClosed(CloseReason.AUTHENTICATION_TIMEOUT)]


def test_a_logout_before_authentication_is_answered_but_revokes_nothing() -> None:
    # An unauthenticated link must not be able to revoke the auth code of the phone it claims.
    modem = NullModem(Terminal(V2013))
    modem.advance(50.0)
    events = modem.send(modem.terminal.frame(TerminalLogout()))

    assert events == []
    assert modem.session.awaiting_decision is None
    [reply] = modem.replies()
    assert isinstance(reply.body, PlatformGeneralResponse)
    assert (reply.body.reply_id, reply.body.result) == (0x0003, 0)


def test_a_logout_before_authentication_does_not_extend_the_authentication_timeout() -> None:
    modem = NullModem(Terminal(V2013))
    modem.advance(50.0)
    modem.send(modem.terminal.frame(TerminalLogout()))

    assert modem.session.next_deadline() == 60.0
    assert modem.advance(10.0) == [SessionClosed(CloseReason.AUTHENTICATION_TIMEOUT)]


# --------------------------------------------------------------------------------------------
# Timers


def test_a_new_connection_must_authenticate_within_the_authentication_timeout() -> None:
    modem = NullModem(Terminal(V2013))

    assert modem.session.next_deadline() == 60.0
    assert modem.advance(59.9) == []
    assert modem.advance(0.1) == [SessionClosed(CloseReason.AUTHENTICATION_TIMEOUT)]
    assert modem.session.state is SessionState.CLOSED
    assert modem.session.next_deadline() is None


def test_heartbeats_do_not_extend_the_authentication_timeout() -> None:
    modem = NullModem(Terminal(V2013))
    modem.advance(30.0)
    modem.send(modem.terminal.heartbeat())

    assert modem.advance(30.0) == [SessionClosed(CloseReason.AUTHENTICATION_TIMEOUT)]


def test_an_idle_authenticated_session_closes_at_the_idle_timeout() -> None:
    modem = logged_in(V2013)

    assert modem.session.next_deadline() == 180.0
    assert modem.advance(179.0) == []
    assert modem.advance(1.0) == [SessionClosed(CloseReason.IDLE_TIMEOUT)]


def test_heartbeats_keep_an_authenticated_session_alive() -> None:
    modem = logged_in(V2013)

    for _ in range(10):
        assert modem.advance(170.0) == []
        modem.send(modem.terminal.heartbeat())

    assert modem.session.authenticated
    assert modem.now == 1700.0
    assert modem.session.next_deadline() == 1700.0 + 180.0


def test_handle_timer_before_any_deadline_changes_nothing() -> None:
    modem = logged_in(V2013)

    assert modem.session.handle_timer(10.0) == []
    assert modem.session.data_to_send() == b""
    assert modem.session.authenticated


def test_end_of_stream_closes_the_session_and_close_is_idempotent() -> None:
    modem = logged_in(V2013)

    assert modem.session.receive_eof(1.0) == [SessionClosed(CloseReason.PEER_CLOSED)]
    assert modem.session.close(CloseReason.SERVER_SHUTDOWN, 2.0) == []
    assert modem.session.close_reason is CloseReason.PEER_CLOSED


def test_a_closed_session_ignores_bytes_and_timers() -> None:
    modem = logged_in(V2013)
    modem.session.close(CloseReason.DISCONNECT_REQUESTED, 0.0)

    assert modem.send(modem.terminal.location()) == []
    assert modem.session.handle_timer(1000.0) == []
    assert modem.session.next_deadline() is None
    assert modem.session.data_to_send() == b""


# --------------------------------------------------------------------------------------------
# Damaged input


def test_a_frame_with_a_bad_checksum_is_answered_result_2_and_later_frames_still_count() -> None:
    modem = logged_in(V2013)
    terminal = modem.terminal
    bad = with_bad_checksum(terminal.location())
    bad_serial = terminal.last_serial
    good = terminal.location()

    events = modem.send(bad, good)

    assert types(events) == [FrameRejected, MessageReceived]
    rejected = events[0]
    assert isinstance(rejected, FrameRejected)
    assert isinstance(rejected.error, ChecksumError)
    assert rejected.answered is ResultCode.MESSAGE_ERROR
    assert bodies(modem.replies()) == [
        ack(bad_serial, 0x0200, ResultCode.MESSAGE_ERROR),
        ack(terminal.last_serial, 0x0200),
    ]


def test_a_damaged_first_frame_does_not_bind_the_link_to_the_phone_it_seems_to_carry() -> None:
    terminal = Terminal(V2013)
    modem = NullModem(terminal)
    frame = terminal.registration()
    index = 10  # the last byte of the 6-byte BCD phone
    assert frame[index] == 0x78

    events = modem.send(corrupt(frame, index, 0x79), terminal.registration())

    assert types(events) == [FrameRejected, RegistrationReceived]


def test_a_byte_damaged_in_transit_is_answered_result_2() -> None:
    modem = logged_in(V2013)
    frame = modem.terminal.location()
    index = 20  # inside the body
    assert frame[index] not in (0x7D, 0x7E) and frame[index] ^ 0x10 not in (0x7D, 0x7E)

    [event] = modem.send(corrupt(frame, index, frame[index] ^ 0x10))

    assert isinstance(event, FrameRejected)
    assert bodies(modem.replies()) == [
        ack(modem.terminal.last_serial, 0x0200, ResultCode.MESSAGE_ERROR)
    ]


def test_a_location_body_cut_short_is_answered_result_2_and_not_delivered() -> None:
    modem = logged_in(V2013)

    [event] = modem.send(modem.terminal.raw_frame(0x0200, bytes(10)))

    assert isinstance(event, FrameRejected)
    assert isinstance(event.error, TruncatedBodyError)
    assert event.answered is ResultCode.MESSAGE_ERROR
    assert bodies(modem.replies()) == [
        ack(modem.terminal.last_serial, 0x0200, ResultCode.MESSAGE_ERROR)
    ]


def test_an_unknown_message_id_after_authentication_is_answered_3_and_delivered_raw() -> None:
    modem = logged_in(V2013)

    [event] = modem.send(modem.terminal.raw_frame(UNKNOWN_ID, b"\x01\x02\x03"))

    assert isinstance(event, MessageReceived)
    assert event.message.msg_id == UNKNOWN_ID
    assert event.message.body == RawBody(raw=b"\x01\x02\x03")
    assert bodies(modem.replies()) == [
        ack(modem.terminal.last_serial, UNKNOWN_ID, ResultCode.UNSUPPORTED)
    ]


def test_a_frame_for_another_phone_after_authentication_is_refused_and_not_answered() -> None:
    modem = logged_in(V2013)

    [event] = modem.send(modem.terminal.frame(location(), phone="013900000000"))

    assert isinstance(event, MessageRefused)
    assert "013900000000" in event.reason
    assert modem.replies() == []  # the reply would go to a terminal that is not on this link
    assert modem.session.stats.refused == 1


def test_max_bad_frames_consecutive_undecodable_frames_close_the_stream() -> None:
    modem = logged_in(V2013, limits=SessionLimits(max_bad_frames=4))

    events = modem.send(b"\x7e" + b"\x01\x02\x03\x7e" * 5)

    assert types(events) == [FrameRejected] * 4 + [SessionClosed]
    rejected = [event for event in events if isinstance(event, FrameRejected)]
    assert all(isinstance(event.error, HeaderError) for event in rejected)
    assert all(event.answered is None for event in rejected)
    assert events[-1] == SessionClosed(CloseReason.UNRECOVERABLE_STREAM)
    assert modem.replies() == []  # no trustworthy header: nothing to answer


def test_a_good_frame_resets_the_count_of_consecutive_bad_frames() -> None:
    modem = logged_in(V2013, limits=SessionLimits(max_bad_frames=4))
    garbage = b"\x01\x02\x03\x7e" * 3

    events = modem.send(b"\x7e" + garbage, modem.terminal.heartbeat(), b"\x7e" + garbage)

    assert SessionClosed not in types(events)
    assert types(modem.send(b"\x01\x02\x03\x7e")) == [FrameRejected, SessionClosed]


def test_garbage_before_the_first_delimiter_is_reported_and_skipped() -> None:
    modem = NullModem(Terminal(V2013), chunker=byte_by_byte)

    events = modem.send(b"\x00\x11\x22" + modem.terminal.heartbeat())

    [event] = events
    assert isinstance(event, FrameRejected)
    assert isinstance(event.error, GarbageError)
    assert event.answered is None
    assert bodies(modem.replies()) == [ack(modem.terminal.last_serial, 0x0002)]


def test_an_impossible_packet_item_is_answered_result_2() -> None:
    modem = logged_in(V2013)
    terminal = modem.terminal
    header = terminal.header(0x0801, packet=PacketInfo(3, 0))  # index 0 does not exist

    [event] = modem.send(encode_frame(encode_header(header, 4) + b"\x00" * 4))

    assert isinstance(event, FrameRejected)
    assert event.answered is ResultCode.MESSAGE_ERROR
    assert bodies(modem.replies()) == [ack(header.serial, 0x0801, ResultCode.MESSAGE_ERROR)]


# --------------------------------------------------------------------------------------------
# Chunking: how the bytes are cut never changes what happens


def session_script(terminal: Terminal) -> bytes:
    """A whole connection: login, data, damage, unknown ids, garbage between frames."""
    frames = [
        terminal.registration(),
        terminal.authentication(),
        terminal.location(),
        with_bad_checksum(terminal.location()),
        terminal.heartbeat(),
        b"\x7e\xaa\xbb\x7e",  # a run too short to be a packet
        terminal.raw_frame(UNKNOWN_ID, b"\x7e\x7d"),  # escaped bytes inside
        terminal.raw_frame(0x0200, bytes(5)),
        terminal.location(latitude=-33.5, longitude=-70.25),
        terminal.frame(TerminalLogout()),
        terminal.location(),
    ]
    return b"".join(frames)


def comparable(events: list[SessionEvent]) -> list[object]:
    """Events with their exceptions replaced by what can be compared (type, offset, answer)."""
    return [
        (type(e.error), e.error.offset, e.answered) if isinstance(e, FrameRejected) else e
        for e in events
    ]


def run_script(version: ProtocolVersion, chunker: Chunker) -> tuple[list[object], bytes]:
    terminal = Terminal(version)
    modem = NullModem(terminal, chunker=chunker, autopilot=Autopilot())
    events = modem.send(session_script(terminal))
    return comparable(events), modem.session.data_to_send()


@ALL_VERSIONS
def test_frames_split_at_every_byte_give_the_same_events_and_replies_as_whole_writes(
    version: ProtocolVersion,
) -> None:
    expected_events, expected_replies = run_script(version, whole)

    assert run_script(version, byte_by_byte) == (expected_events, expected_replies)
    assert types_of(expected_events) == [
        RegistrationReceived,
        TerminalRegistered,
        AuthenticationReceived,
        TerminalAuthenticated,
        MessageReceived,
        tuple,  # bad checksum
        tuple,  # too short
        MessageReceived,  # unknown id, delivered raw
        tuple,  # truncated location
        MessageReceived,
        LogoutReceived,
        TerminalLoggedOut,
        MessageRefused,
    ]


def types_of(values: list[object]) -> list[type]:
    return [type(value) for value in values]


def test_a_cut_at_each_position_of_a_frame_changes_nothing() -> None:
    terminal = Terminal(V2013)
    frame = terminal.heartbeat()
    for cut in range(1, len(frame)):
        modem = NullModem(Terminal(V2013), chunker=split_at(cut))
        assert modem.send(frame) == []
        assert bodies(modem.replies()) == [ack(terminal.last_serial, 0x0002)]


@functools.cache
def whole_write_outcome(version: ProtocolVersion) -> tuple[list[object], bytes]:
    return run_script(version, whole)


@given(chunker=chunkers())
def test_any_chunking_gives_the_same_events_and_replies(chunker: Chunker) -> None:
    assert run_script(V2013, chunker) == whole_write_outcome(V2013)


# --------------------------------------------------------------------------------------------
# Sub-packaged uplink messages


def photo(size: int = 3000) -> MultimediaData:
    return MultimediaData(
        media_id=77,
        media_type=0,
        media_format=0,
        event=1,
        channel_id=2,
        location=location(),
        data=bytes(i % 251 for i in range(size)),
    )


@SUBPACKAGE_VERSIONS
def test_a_subpackaged_photo_is_acknowledged_per_packet_then_answered_with_0x8800(
    version: ProtocolVersion,
) -> None:
    modem = logged_in(version)
    upload = photo()
    split = modem.terminal.split(upload)
    assert split.total == 3

    for frame in split.frames[:-1]:
        assert modem.send(frame) == []
    [event] = modem.send(split.frames[-1])

    assert isinstance(event, MessageReceived)
    assert event.message.body == upload
    assert event.message.header.serial == split.first_serial
    assert event.message.header.packet is None
    assert bodies(modem.replies()) == [
        *(ack(serial, 0x0801) for serial in split.serials),
        MultimediaDataResponse(media_id=77),
    ]


@SUBPACKAGE_VERSIONS
def test_a_subpackaged_location_batch_is_delivered_whole_and_every_packet_acknowledged(
    version: ProtocolVersion,
) -> None:
    modem = logged_in(version)
    batch = LocationBatch(type=1, items=[location(speed=float(i)) for i in range(40)])
    split = modem.terminal.split(batch)
    assert split.total == 2

    events = modem.send(*split.frames)

    [event] = events
    assert isinstance(event, MessageReceived)
    assert event.message.body == batch
    acknowledged = {general.reply_serial for general in general_responses(modem.replies())}
    assert acknowledged == set(split.serials)


def test_a_subpackaged_location_batch_gets_exactly_one_acknowledgement_per_packet() -> None:
    modem = logged_in(V2013)
    batch = LocationBatch(type=1, items=[location(speed=float(i)) for i in range(40)])
    split = modem.terminal.split(batch)

    modem.send(*split.frames)

    assert bodies(modem.replies()) == [ack(serial, 0x0704) for serial in split.serials]


@SUBPACKAGE_VERSIONS
def test_a_missing_packet_is_asked_for_with_0x8003_after_the_reassembly_timeout(
    version: ProtocolVersion,
) -> None:
    modem = logged_in(version, limits=SessionLimits(reassembly_retransmit_after=10.0))
    upload = photo(4000)
    split = modem.terminal.split(upload)
    assert split.total == 4
    modem.send(split.frames[0], split.frames[1], split.frames[3])
    modem.replies()

    assert modem.session.next_deadline() == 10.0
    assert modem.advance(9.9) == []
    assert modem.replies() == []
    assert modem.advance(0.1) == []

    [request] = modem.replies()
    assert request.msg_id == MessageId.PLATFORM_RETRANSMIT_REQUEST
    assert request.body == PlatformRetransmitRequest(
        original_serial=split.first_serial, packet_ids=[3]
    )
    [event] = modem.send(split.frames[2])
    assert isinstance(event, MessageReceived)
    assert event.message.body == upload


def test_a_2011_terminal_is_not_sent_0x8003_which_its_revision_lacks() -> None:
    modem = logged_in(V2011, limits=SessionLimits(reassembly_retransmit_after=10.0))
    split = modem.terminal.split(photo(4000))
    modem.send(split.frames[0], split.frames[1], split.frames[3])
    modem.replies()

    modem.advance(10.0)

    assert modem.replies() == []


def test_closing_drops_a_partial_upload_with_an_event() -> None:
    modem = logged_in(V2013)
    split = modem.terminal.split(photo())
    modem.send(split.frames[0])
    modem.advance(5.0)

    events = modem.session.close(CloseReason.SERVER_SHUTDOWN, modem.now)

    [dropped, closed] = events
    assert isinstance(dropped, PartialMessageDropped)
    assert (dropped.msg_id, dropped.first_serial) == (0x0801, split.first_serial)
    assert (dropped.total, dropped.received, dropped.age) == (3, 1, 5.0)
    assert dropped.reason is DropReason.CLOSED
    assert closed == SessionClosed(CloseReason.SERVER_SHUTDOWN)


def test_packets_before_authentication_are_refused_not_held() -> None:
    terminal = Terminal(V2013)
    modem = NullModem(terminal)
    # Packets of 400 bytes: whole packets of 1023 would not even pass the frame bound that
    # holds before authentication (``unauthenticated_frame_length``).
    split = terminal.split(photo(), max_size=400)
    assert 3 < split.total < 10  # refused, but not yet as often as closes the connection

    events = modem.send(*split.frames)

    assert types(events) == [MessageRefused] * split.total
    assert modem.session.next_deadline() == 60.0  # no reassembly timer was started


# --------------------------------------------------------------------------------------------
# Server time (2019)


def test_query_server_time_is_answered_with_0x8004_carrying_the_injected_time_in_utc() -> None:
    wall_clock = datetime(2024, 5, 6, 8, 9, 10, 654321, tzinfo=CHINA_TZ)
    modem = logged_in(V2019, utc_now=lambda: wall_clock)

    assert modem.send(modem.terminal.frame(QueryServerTime())) == []

    [reply] = modem.replies()
    assert reply.msg_id == MessageId.SERVER_TIME_RESPONSE
    assert reply.header.version is V2019
    assert reply.body == ServerTimeResponse(time=datetime(2024, 5, 6, 0, 9, 10, tzinfo=UTC))


@pytest.fixture
def shanghai_local_time() -> Iterator[None]:
    """Run with the process's local time zone set to GMT+8, as on a server in China."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Shanghai"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.mark.usefixtures("shanghai_local_time")
def test_a_naive_time_from_utc_now_is_taken_as_utc() -> None:
    modem = logged_in(V2019, utc_now=lambda: datetime(2024, 5, 6, 0, 9, 10))

    modem.send(modem.terminal.frame(QueryServerTime()))

    [reply] = modem.replies()
    assert reply.body == ServerTimeResponse(time=datetime(2024, 5, 6, 0, 9, 10, tzinfo=UTC))


def test_a_session_without_a_wall_clock_says_so_when_asked_the_time() -> None:
    modem = logged_in(V2019)

    with pytest.raises(RuntimeError, match="wall clock"):
        modem.send(modem.terminal.frame(QueryServerTime()))


# --------------------------------------------------------------------------------------------
# Counters


def test_stats_count_bytes_frames_and_outcomes() -> None:
    terminal = Terminal(V2013)
    modem = NullModem(terminal)
    frames = [terminal.location(), with_bad_checksum(terminal.heartbeat()), terminal.heartbeat()]

    modem.send(*frames)
    sent = modem.session.data_to_send()

    stats = modem.session.stats
    assert stats.bytes_in == sum(map(len, frames))
    assert stats.bytes_out == len(sent)
    assert (stats.frames_in, stats.frames_out) == (3, 3)
    assert (stats.refused, stats.rejected) == (1, 1)
    assert stats.messages_in == {0x0200: 1, 0x0002: 1}
    assert stats.messages_out == {GENERAL: 3}


def test_a_session_needs_its_clock_only_as_arguments() -> None:
    session = TerminalSession(now=1000.0)

    assert session.next_deadline() == 1060.0
    assert session.handle_timer(1059.0) == []
    assert session.handle_timer(1060.0) == [SessionClosed(CloseReason.AUTHENTICATION_TIMEOUT)]
