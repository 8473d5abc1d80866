"""Platform commands: sending, retransmission and matching the terminal's reply (reference §6).

Most tests drive a whole ``TerminalSession`` through the null modem, as the server will; a few
pin the ``CommandTracker`` and the reply tables (``replies.py``) on their own.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.protocol import V2011, V2013, V2019, EncodeError, ProtocolVersion, RawBody
from gateway.protocol.bodies.general import (
    PlatformGeneralResponse,
    TerminalGeneralResponse,
    TerminalRetransmitRequest,
)
from gateway.protocol.bodies.location import (
    ConfirmAlarm,
    QueryLocation,
    QueryLocationResponse,
    TemporaryTracking,
)
from gateway.protocol.bodies.multimedia import TakePhoto, TakePhotoResponse
from gateway.protocol.bodies.parameters import (
    Parameter,
    QueryAllParameters,
    QueryParameters,
    QueryParametersResponse,
)
from gateway.protocol.bodies.tachograph import (
    CardStatus,
    DriverIdentityReport,
    RequestDriverIdentity,
)
from gateway.protocol.bodies.terminal import (
    QueryAttributes,
    QueryAttributesResponse,
    UpgradePackage,
)
from gateway.protocol.bodies.vehicle import VehicleControl, VehicleControlResponse
from gateway.protocol.body import Body, Fragment
from gateway.protocol.commands import (
    CommandAnswered,
    CommandFailed,
    CommandFailure,
    CommandTracker,
    PendingCommand,
    TooManyPendingCommandsError,
)
from gateway.protocol.header import PacketInfo
from gateway.protocol.ids import MessageId as M
from gateway.protocol.message import Message
from gateway.protocol.replies import (
    ALLOWED_BEFORE_AUTHENTICATION,
    UplinkReply,
    command_reply,
    uplink_reply,
)
from gateway.protocol.session import (
    CloseReason,
    MessageReceived,
    MessageRefused,
    SessionClosed,
    SessionEvent,
    SessionLimits,
    SessionNotReadyError,
)
from gateway.protocol.subpackage import Reassembler

from .null_modem import LOCATION_TIME, NullModem, Terminal, location

TIMEOUT = 100.0  # a command's own deadline, below the idle timeout (180 s)


def logged_in(version: ProtocolVersion = V2013, **limits: Any) -> NullModem:
    """An authenticated session at time 0 whose replies so far are drained."""
    modem = NullModem(Terminal(version), limits=SessionLimits(**limits))
    modem.log_in()
    modem.replies()
    return modem


def command(modem: NullModem, body: Body, *, timeout: float = TIMEOUT) -> PendingCommand:
    return modem.session.send_command(body, modem.now, timeout=timeout)


def general_response(command: PendingCommand, result: int = 0, *, serial: int = -1) -> Body:
    """The terminal's 0x0001 for ``command`` (naming its first packet unless told)."""
    return TerminalGeneralResponse(
        reply_serial=command.first_serial if serial < 0 else serial,
        reply_id=command.msg_id,
        result=result,
    )


def answers(events: list[SessionEvent]) -> list[CommandAnswered]:
    return [event for event in events if isinstance(event, CommandAnswered)]


def only_answer(events: list[SessionEvent]) -> CommandAnswered:
    [answer] = events
    assert isinstance(answer, CommandAnswered), events
    return answer


ATTRIBUTES = QueryAttributesResponse(
    terminal_type=1,
    manufacturer_id="ACME1",
    terminal_model="TK-1",
    terminal_id="T000001",
    iccid="89860012345678901234",
    hardware_version="H1",
    firmware_version="F1",
    gnss_attributes=3,
    communication_attributes=1,
)

PHOTO = TakePhoto(
    channel_id=1,
    command=1,
    interval_s=0,
    save=0,
    resolution=1,
    quality=5,
    brightness=128,
    contrast=64,
    saturation=64,
    chroma=128,
)


def upgrade(size: int = 2600) -> UpgradePackage:
    return UpgradePackage(
        upgrade_type=0,
        manufacturer_id="ACME1",
        version="2.0.1",
        package=bytes(i % 253 for i in range(size)),
    )


# --------------------------------------------------------------------------------------------
# Sending


def test_a_command_before_authentication_raises_session_not_ready() -> None:
    terminal = Terminal(V2013)
    modem = NullModem(terminal)
    modem.send(terminal.registration())
    modem.answer_registration()
    modem.replies()

    with pytest.raises(SessionNotReadyError):
        command(modem, QueryLocation())
    assert modem.session.data_to_send() == b""
    assert modem.session.pending_commands == []


def test_a_command_after_the_session_closed_raises_session_not_ready() -> None:
    modem = logged_in()
    modem.session.close(CloseReason.DISCONNECT_REQUESTED, 0.0)

    with pytest.raises(SessionNotReadyError):
        command(modem, QueryLocation())


def test_a_command_goes_out_in_the_terminals_revision_with_the_next_platform_serial() -> None:
    modem = logged_in(V2019)

    sent = command(modem, QueryLocation())

    [frame] = modem.replies()
    assert frame.msg_id == M.QUERY_LOCATION
    assert frame.header.serial == sent.first_serial == 2  # after the 0x8100 and the 0x8001
    assert frame.header.version is V2019
    assert frame.header.phone == modem.terminal.phone
    assert sent.expected_reply == M.QUERY_LOCATION_RESPONSE
    assert modem.session.pending_commands == [sent]


def test_a_raw_body_command_is_sent_with_its_explicit_platform_msg_id() -> None:
    modem = logged_in()

    sent = modem.session.send_command(
        RawBody(raw=b"\x01\x02\x03"), 0.0, timeout=30.0, msg_id=0x8F51
    )

    [frame] = modem.replies()
    assert frame.msg_id == 0x8F51
    assert frame.body == RawBody(raw=b"\x01\x02\x03")
    assert sent.expected_reply == M.TERMINAL_GENERAL_RESPONSE
    answer = only_answer(modem.send(modem.terminal.frame(general_response(sent))))
    assert (answer.command_id, answer.msg_id, answer.result) == (sent.command_id, 0x8F51, 0)


@pytest.mark.parametrize(
    ("body", "msg_id"),
    [
        (RawBody(raw=b"\x01"), None),  # a raw body has no id of its own
        (location(), None),  # 0x0200 goes from terminal to platform
        (RawBody(raw=b"\x01"), 0x0F01),
        (QueryLocation(), 0x10000),
    ],
    ids=["raw-without-id", "location-report", "raw-uplink-id", "id-past-a-word"],
)
def test_only_platform_message_ids_can_be_sent_as_commands(body: Body, msg_id: int | None) -> None:
    modem = logged_in()

    with pytest.raises(EncodeError):
        modem.session.send_command(body, 0.0, timeout=30.0, msg_id=msg_id)

    assert modem.session.pending_commands == []
    modem.send(modem.terminal.heartbeat())
    [reply] = modem.replies()
    assert reply.header.serial == 2  # no serial was taken by the refused command


def test_max_pending_commands_refuses_the_next_command_without_taking_a_serial() -> None:
    modem = logged_in(max_pending_commands=2)
    first = command(modem, QueryLocation())
    second = command(modem, QueryLocation())

    with pytest.raises(TooManyPendingCommandsError):
        command(modem, QueryLocation())

    assert modem.session.pending_commands == [first, second]
    modem.send(modem.terminal.heartbeat())
    assert [frame.header.serial for frame in modem.replies()] == [2, 3, 4]


# --------------------------------------------------------------------------------------------
# Replies


@pytest.mark.parametrize("version", [V2011, V2013, V2019])
def test_a_query_location_answered_by_0x0201_completes_with_the_reply(
    version: ProtocolVersion,
) -> None:
    modem = logged_in(version)
    sent = command(modem, QueryLocation())
    modem.replies()
    reply = QueryLocationResponse(reply_serial=sent.first_serial, location=location(speed=12.5))

    answer = only_answer(modem.send(modem.terminal.frame(reply)))

    assert (answer.command_id, answer.msg_id) == (sent.command_id, M.QUERY_LOCATION)
    assert answer.reply.msg_id == M.QUERY_LOCATION_RESPONSE
    assert answer.reply.body == reply
    assert answer.result == 0
    assert modem.session.pending_commands == []
    assert modem.replies() == []  # a reply is not itself answered


def test_a_command_answered_by_0x0001_result_3_completes_with_result_3() -> None:
    modem = logged_in()
    sent = command(modem, QueryLocation())

    answer = only_answer(modem.send(modem.terminal.frame(general_response(sent, 3))))

    assert answer.reply.msg_id == M.TERMINAL_GENERAL_RESPONSE
    assert answer.result == 3
    assert modem.session.pending_commands == []


def test_a_0x0001_naming_another_message_id_does_not_answer_the_command() -> None:
    modem = logged_in()
    sent = command(modem, QueryLocation())
    stray = TerminalGeneralResponse(reply_serial=sent.first_serial, reply_id=0x8202, result=0)

    [event] = modem.send(modem.terminal.frame(stray))

    assert isinstance(event, MessageReceived)
    assert modem.session.pending_commands == [sent]


def test_an_unsolicited_0x0001_is_delivered_as_a_message_and_not_answered() -> None:
    modem = logged_in()
    stray = TerminalGeneralResponse(reply_serial=999, reply_id=0x8103, result=0)

    [event] = modem.send(modem.terminal.frame(stray))

    assert isinstance(event, MessageReceived)
    assert event.message.body == stray
    assert modem.replies() == []


def test_a_reply_without_reply_serial_answers_the_oldest_pending_command_it_fits() -> None:
    modem = logged_in()
    first = command(modem, QueryAttributes())
    other = command(modem, QueryLocation())
    second = command(modem, QueryAttributes())

    answer = only_answer(modem.send(modem.terminal.frame(ATTRIBUTES)))
    assert answer.command_id == first.command_id
    assert answer.reply.body == ATTRIBUTES

    answer = only_answer(modem.send(modem.terminal.frame(ATTRIBUTES)))
    assert answer.command_id == second.command_id
    assert modem.session.pending_commands == [other]


def concurrent_commands() -> list[tuple[Body, Any]]:
    """Commands and how the terminal answers each (given the command's first serial)."""
    return [
        (
            QueryLocation(),
            lambda s: QueryLocationResponse(reply_serial=s, location=location(speed=1.0)),
        ),
        (
            QueryLocation(),
            lambda s: QueryLocationResponse(reply_serial=s, location=location(speed=2.0)),
        ),
        (QueryAllParameters(), lambda s: QueryParametersResponse(reply_serial=s)),
        (
            QueryParameters(ids=[0x0001]),
            lambda s: QueryParametersResponse(
                reply_serial=s, parameters=[Parameter(id=0x0001, raw=b"\x00\x00\x00\x1e")]
            ),
        ),
        (
            TemporaryTracking(interval_s=5, validity_s=60),
            lambda s: TerminalGeneralResponse(reply_serial=s, reply_id=0x8202, result=0),
        ),
        (
            ConfirmAlarm(alarm_serial=0, alarm_types=1),
            lambda s: TerminalGeneralResponse(reply_serial=s, reply_id=0x8203, result=1),
        ),
    ]


@settings(max_examples=50)
@given(order=st.permutations(range(6)))
def test_concurrent_commands_answered_in_any_order_are_each_matched(order: list[int]) -> None:
    modem = logged_in()
    plan = concurrent_commands()
    sent = [command(modem, body) for body, _ in plan]
    modem.replies()

    for index in order:
        reply = plan[index][1](sent[index].first_serial)
        answer = only_answer(modem.send(modem.terminal.frame(reply)))
        assert answer.command_id == sent[index].command_id
        assert answer.reply.body == reply

    assert modem.session.pending_commands == []


def test_a_reply_the_terminal_sends_in_packets_completes_the_command_once_reassembled() -> None:
    modem = logged_in()
    sent = command(modem, QueryAllParameters())
    modem.replies()
    parameters = [Parameter(id=0xF000 + n, raw=bytes([n]) * 10) for n in range(100)]
    reply = QueryParametersResponse(reply_serial=sent.first_serial, parameters=parameters)
    split = modem.terminal.split(reply)
    assert split.total == 2

    assert modem.send(split.frames[0]) == []
    answer = only_answer(modem.send(split.frames[1]))

    assert answer.command_id == sent.command_id
    assert answer.reply.body == reply
    # each packet is acknowledged; the reassembled reply itself is not answered
    assert [r.body for r in modem.replies()] == [
        PlatformGeneralResponse(reply_serial=serial, reply_id=0x0104, result=0)
        for serial in split.serials
    ]


def test_a_late_reply_to_a_timed_out_command_is_delivered_as_a_message() -> None:
    modem = logged_in()
    sent = command(modem, QueryLocation(), timeout=5.0)
    modem.replies()
    assert modem.advance(5.0) == [
        CommandFailed(sent.command_id, M.QUERY_LOCATION, CommandFailure.NO_REPLY, 0)
    ]
    reply = QueryLocationResponse(reply_serial=sent.first_serial, location=location())

    [event] = modem.send(modem.terminal.frame(reply))

    assert isinstance(event, MessageReceived)
    assert event.message.body == reply
    assert modem.replies() == []


# --------------------------------------------------------------------------------------------
# Commands answered in two steps


def test_vehicle_control_acknowledged_by_0x0001_is_not_resent_and_completes_with_0x0500() -> None:
    modem = logged_in(command_retry_timeout=10.0)
    sent = command(modem, VehicleControl(control_flags=1))
    modem.replies()

    events = modem.send(modem.terminal.frame(general_response(sent)))

    assert answers(events) == []
    [pending] = modem.session.pending_commands
    assert pending.acknowledged
    assert modem.advance(50.0) == []
    assert modem.session.data_to_send() == b""  # acknowledged: no longer retransmitted
    reply = VehicleControlResponse(reply_serial=sent.first_serial, location=location())
    answer = only_answer(modem.send(modem.terminal.frame(reply)))
    assert answer.command_id == sent.command_id
    assert answer.reply.msg_id == M.VEHICLE_CONTROL_RESPONSE
    assert modem.session.pending_commands == []


def test_the_first_0x0001_of_a_two_step_command_is_not_delivered_as_a_message() -> None:
    modem = logged_in()
    sent = command(modem, VehicleControl(control_flags=1))

    assert modem.send(modem.terminal.frame(general_response(sent))) == []


def test_vehicle_control_refused_by_0x0001_completes_with_that_result() -> None:
    modem = logged_in()
    sent = command(modem, VehicleControl(control_flags=1))

    answer = only_answer(modem.send(modem.terminal.frame(general_response(sent, 1))))

    assert answer.result == 1
    assert modem.session.pending_commands == []


@pytest.mark.parametrize("version", [V2013, V2019])
def test_take_photo_completes_with_0x0805_from_a_2013_or_2019_terminal(
    version: ProtocolVersion,
) -> None:
    modem = logged_in(version)
    sent = command(modem, PHOTO)
    assert sent.expected_reply == M.TAKE_PHOTO_RESPONSE

    assert answers(modem.send(modem.terminal.frame(general_response(sent)))) == []
    reply = TakePhotoResponse(reply_serial=sent.first_serial, result=0, media_ids=[11, 12])
    answer = only_answer(modem.send(modem.terminal.frame(reply)))

    assert answer.reply.body == reply
    assert modem.session.pending_commands == []


def test_take_photo_completes_with_0x0001_from_a_2011_terminal() -> None:
    modem = logged_in(V2011)
    sent = command(modem, PHOTO)
    assert sent.expected_reply == M.TERMINAL_GENERAL_RESPONSE

    answer = only_answer(modem.send(modem.terminal.frame(general_response(sent))))

    assert answer.reply.msg_id == M.TERMINAL_GENERAL_RESPONSE
    assert answer.result == 0
    assert modem.session.pending_commands == []


def test_a_0x0702_answering_a_pending_0x8702_completes_it_and_is_not_acknowledged() -> None:
    modem = logged_in()
    sent = command(modem, RequestDriverIdentity())
    modem.replies()
    report = DriverIdentityReport(status=CardStatus.REMOVED, time=LOCATION_TIME)

    events = modem.send(modem.terminal.frame(report))

    assert [type(event) for event in events] == [CommandAnswered]
    assert only_answer(events).command_id == sent.command_id
    assert modem.replies() == []


def test_a_spontaneous_0x0702_is_acknowledged_and_delivered() -> None:
    modem = logged_in()
    report = DriverIdentityReport(status=CardStatus.REMOVED, time=LOCATION_TIME)

    [event] = modem.send(modem.terminal.frame(report))

    assert isinstance(event, MessageReceived)
    [reply] = modem.replies()
    assert reply.body == PlatformGeneralResponse(
        reply_serial=modem.terminal.last_serial, reply_id=0x0702, result=0
    )


# --------------------------------------------------------------------------------------------
# Retransmission and deadlines


def test_an_unanswered_command_is_resent_byte_for_byte_after_t_then_2t() -> None:
    modem = logged_in(command_retry_timeout=10.0, command_max_retries=2)
    sent = command(modem, QueryLocation())
    original = modem.session.data_to_send()
    assert original == b"".join(sent.frames)

    assert modem.advance(9.9) == []
    assert modem.session.data_to_send() == b""
    assert modem.advance(0.1) == []
    assert modem.session.data_to_send() == original  # at T = 10

    assert modem.session.next_deadline() == 30.0
    assert modem.advance(19.9) == []
    assert modem.session.data_to_send() == b""
    assert modem.advance(0.1) == []
    assert modem.session.data_to_send() == original  # 2T = 20 later

    assert modem.session.next_deadline() == TIMEOUT  # max retries reached: only the deadline
    assert modem.advance(TIMEOUT - 30.0) == [
        CommandFailed(sent.command_id, M.QUERY_LOCATION, CommandFailure.NO_REPLY, 2)
    ]
    assert modem.session.data_to_send() == b""
    assert modem.session.pending_commands == []


def test_retransmission_waits_grow_as_t_2t_6t_up_to_max_retries() -> None:
    modem = logged_in(command_retry_timeout=10.0, command_max_retries=3)
    command(modem, QueryLocation(), timeout=170.0)
    original = modem.session.data_to_send()

    resent_at: list[float] = []
    while (deadline := modem.session.next_deadline()) is not None and deadline < 170.0:
        modem.advance_to(deadline)
        data = modem.session.data_to_send()
        if data:
            assert data == original
            resent_at.append(modem.now)

    assert resent_at == [10.0, 30.0, 90.0]  # waits T, 2T, 6T: T(N+1) = T(N) * (N+1)


def test_a_command_whose_deadline_comes_before_t_fails_without_being_resent() -> None:
    modem = logged_in(command_retry_timeout=10.0)
    sent = command(modem, QueryLocation(), timeout=5.0)
    modem.session.data_to_send()

    assert modem.session.next_deadline() == 5.0
    assert modem.advance(5.0) == [
        CommandFailed(sent.command_id, M.QUERY_LOCATION, CommandFailure.NO_REPLY, 0)
    ]
    assert modem.session.data_to_send() == b""


def test_close_fails_sent_commands_with_session_closed_and_unsent_ones_with_not_delivered() -> None:
    modem = logged_in()
    sent = command(modem, QueryLocation())
    modem.session.data_to_send()
    queued = command(modem, QueryAttributes())

    events = modem.session.close(CloseReason.SERVER_SHUTDOWN, 1.0)

    assert events == [
        CommandFailed(sent.command_id, M.QUERY_LOCATION, CommandFailure.SESSION_CLOSED, 0),
        CommandFailed(queued.command_id, M.QUERY_ATTRIBUTES, CommandFailure.NOT_DELIVERED, 0),
        SessionClosed(CloseReason.SERVER_SHUTDOWN),
    ]


# --------------------------------------------------------------------------------------------
# Commands too long for one frame


def test_a_command_body_over_1023_bytes_goes_out_in_packets_with_consecutive_serials() -> None:
    modem = logged_in()
    body = upgrade()

    sent = command(modem, body)

    assert sent.serials == (2, 3, 4)
    packets = modem.replies()
    assert [p.header.serial for p in packets] == [2, 3, 4]
    assert [p.header.packet for p in packets] == [PacketInfo(3, i) for i in (1, 2, 3)]
    assert all(isinstance(p.body, Fragment) for p in packets)
    reassembler = Reassembler()
    done = [reassembler.receive_fragment(p, 0.0) for p in packets][-1]
    assert done is not None and done.message is not None
    assert done.message.body == body
    modem.send(modem.terminal.heartbeat())
    assert [r.header.serial for r in modem.replies()] == [5]


def test_a_split_command_completes_when_the_terminal_acknowledges_its_last_packet() -> None:
    modem = logged_in()
    sent = command(modem, upgrade())

    events = modem.send(modem.terminal.frame(general_response(sent, serial=sent.serials[0])))
    assert answers(events) == []
    answer = only_answer(
        modem.send(modem.terminal.frame(general_response(sent, serial=sent.serials[-1])))
    )

    assert answer.command_id == sent.command_id
    assert modem.session.pending_commands == []


def test_a_split_command_is_resent_whole_and_identical() -> None:
    modem = logged_in(command_retry_timeout=10.0)
    sent = command(modem, upgrade())
    original = modem.session.data_to_send()

    modem.advance(10.0)

    assert modem.session.data_to_send() == original == b"".join(sent.frames)


def test_a_0x0005_from_a_2019_terminal_gets_the_identical_packets_resent() -> None:
    modem = logged_in(V2019)
    sent = command(modem, upgrade())
    original = modem.session.data_to_send()
    assert original == b"".join(sent.frames)
    terminal = modem.terminal

    request = TerminalRetransmitRequest(original_serial=sent.first_serial, packet_ids=[2])
    assert modem.send(terminal.frame(request)) == []
    assert modem.session.data_to_send() == sent.frames[1]

    request = TerminalRetransmitRequest(original_serial=sent.first_serial, packet_ids=[3, 1])
    assert modem.send(terminal.frame(request)) == []
    assert modem.session.data_to_send() == sent.frames[2] + sent.frames[0]
    assert modem.session.pending_commands == [sent]  # a resend request is not an answer


def test_a_0x0005_for_a_message_not_held_is_refused_with_result_1() -> None:
    modem = logged_in(V2019)
    command(modem, QueryLocation())
    modem.replies()

    request = TerminalRetransmitRequest(original_serial=2, packet_ids=[1])
    [event] = modem.send(modem.terminal.frame(request))

    assert isinstance(event, MessageRefused)
    [reply] = modem.replies()
    assert reply.body == PlatformGeneralResponse(
        reply_serial=modem.terminal.last_serial, reply_id=0x0005, result=1
    )


# --------------------------------------------------------------------------------------------
# The tracker on its own


@pytest.mark.parametrize(
    "settings_",
    [
        {"retry_timeout": 0.0},
        {"max_retries": -1},
        {"max_pending": 0},
    ],
)
def test_the_tracker_refuses_settings_that_cannot_work(settings_: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        CommandTracker(**settings_)


def test_the_tracker_schedules_retries_by_t_n_plus_1_equals_t_n_times_n_plus_1() -> None:
    tracker = CommandTracker(retry_timeout=10.0, max_retries=4)
    tracker.add(0x8201, [7], [b"frame"], V2013, now=0.0, timeout=1000.0)

    resent_at: list[float] = []
    while (deadline := tracker.next_deadline()) is not None and deadline < 1000.0:
        frames, failures = tracker.handle_timer(deadline)
        assert failures == []
        assert frames == [b"frame"]
        resent_at.append(deadline)

    assert resent_at == [10.0, 30.0, 90.0, 330.0]
    assert tracker.next_deadline() == 1000.0


def test_the_tracker_without_retries_only_waits_for_the_deadline() -> None:
    tracker = CommandTracker(retry_timeout=10.0, max_retries=0)
    tracker.add(0x8201, [7], [b"frame"], V2013, now=0.0, timeout=30.0)

    assert tracker.next_deadline() == 30.0
    frames, failures = tracker.handle_timer(30.0)
    assert frames == []
    assert [(f.reason, f.retries) for f in failures if isinstance(f, CommandFailed)] == [
        (CommandFailure.NO_REPLY, 0)
    ]
    assert len(failures) == 1
    assert len(tracker) == 0
    assert tracker.next_deadline() is None


def test_the_tracker_ignores_a_message_that_answers_nothing() -> None:
    tracker = CommandTracker()
    tracker.add(0x8201, [7], [b"frame"], V2013, now=0.0, timeout=30.0)
    terminal = Terminal(V2013)
    heartbeat = terminal.receive(terminal.heartbeat())  # decoded like any terminal message
    message = Message(heartbeat[0].header, heartbeat[0].body)

    assert tracker.match(message) is None  # None: not a reply to any command
    assert len(tracker) == 1


# --------------------------------------------------------------------------------------------
# Reply rules (reference §6.3)


@pytest.mark.parametrize(
    ("msg_id", "reply"),
    [
        *(
            (msg_id, UplinkReply.GENERAL)
            for msg_id in (
                0x0002,
                0x0003,
                0x0108,
                0x0200,
                0x0301,
                0x0303,
                0x0701,
                0x0702,
                0x0704,
                0x0705,
                0x0800,
                0x0900,
                0x0901,
                0x0F01,  # unknown ids are acknowledged too (with result 3 by the session)
            )
        ),
        (0x0100, UplinkReply.REGISTRATION),
        (0x0102, UplinkReply.AUTHENTICATION),
        (0x0004, UplinkReply.SERVER_TIME),
        (0x0005, UplinkReply.RESEND),
        (0x0801, UplinkReply.MULTIMEDIA),
        *(
            (msg_id, UplinkReply.NONE)
            for msg_id in (
                0x0001,
                0x0104,
                0x0107,
                0x0201,
                0x0302,
                0x0500,
                0x0608,
                0x0700,
                0x0802,
                0x0805,
            )
        ),
    ],
    ids=lambda value: f"0x{value:04X}" if isinstance(value, int) else value.value,
)
def test_each_terminal_message_gets_the_answer_the_reference_names(
    msg_id: int, reply: UplinkReply
) -> None:
    assert uplink_reply(msg_id) is reply


@pytest.mark.parametrize(
    ("msg_id", "reply"),
    [
        *(
            (msg_id, M.TERMINAL_GENERAL_RESPONSE)
            for msg_id in (
                0x8103,
                0x8105,
                0x8108,
                0x8202,
                0x8203,
                0x8204,
                0x8300,
                0x8301,
                0x8303,
                0x8304,
                0x8400,
                0x8401,
                *range(0x8600, 0x8608),
                0x8701,
                0x8803,
                0x8804,
                0x8805,
                0x8900,
                0x8F51,  # an id the core does not know
            )
        ),
        (0x8104, M.QUERY_PARAMETERS_RESPONSE),
        (0x8106, M.QUERY_PARAMETERS_RESPONSE),
        (0x8107, M.QUERY_ATTRIBUTES_RESPONSE),
        (0x8201, M.QUERY_LOCATION_RESPONSE),
        (0x8302, M.QUESTION_ANSWER),
        (0x8500, M.VEHICLE_CONTROL_RESPONSE),
        (0x8608, M.QUERY_AREAS_RESPONSE),
        (0x8700, M.TACHOGRAPH_UPLOAD),
        (0x8702, M.DRIVER_IDENTITY),
        (0x8801, M.TAKE_PHOTO_RESPONSE),
        (0x8802, M.SEARCH_MEDIA_RESPONSE),
        (0x8A00, M.TERMINAL_RSA_KEY),
    ],
    ids=lambda value: f"0x{value:04X}",
)
@pytest.mark.parametrize("version", [V2013, V2019])
def test_each_platform_command_waits_for_the_reply_the_reference_names(
    msg_id: int, reply: int, version: ProtocolVersion
) -> None:
    assert command_reply(msg_id, version) == reply


def test_a_2011_terminal_answers_take_photo_with_a_general_response() -> None:
    assert command_reply(M.TAKE_PHOTO, V2011) == M.TERMINAL_GENERAL_RESPONSE
    assert command_reply(M.QUERY_LOCATION, V2011) == M.QUERY_LOCATION_RESPONSE


def test_only_registration_authentication_logout_and_heartbeat_pass_before_authentication() -> None:
    assert {0x0100, 0x0102, 0x0003, 0x0002} == ALLOWED_BEFORE_AUTHENTICATION
