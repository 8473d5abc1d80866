"""The simulated terminal (sans-I/O) against the gateway's own ``TerminalSession``, in memory.

No sockets and no clock: a ``Link`` carries the terminal's bytes to a session and the session's
replies back, answers the session's decisions like an auth backend, and moves time explicitly.
Every command reply is checked the way the gateway sees it: as the ``CommandAnswered`` event
its command tracker produces.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest

from clients.simulator.terminal import (
    MAX_AWAITING,
    AckMissing,
    Acknowledged,
    Authenticated,
    AuthenticationRefused,
    CommandReplied,
    LinkState,
    MissingReason,
    PacketsResent,
    Registered,
    RegistrationRefused,
    SimulatedTerminal,
    TerminalEvent,
    TerminalProfile,
    UploadCompleted,
    device_profile,
    fleet_profile,
    format_phone,
    tachograph_frame,
)
from clients.simulator.track import METRES_PER_DEGREE, Track, TrackSpec
from gateway.protocol import bodies as _bodies  # noqa: F401 - registers every body
from gateway.protocol.bodies.areas import (
    AreaQueryType,
    AreaSetType,
    CircleArea,
    DeleteCircleAreas,
    QueryAreas,
    QueryAreasResponse,
    SetCircleAreas,
)
from gateway.protocol.bodies.general import (
    Heartbeat,
    PlatformGeneralResponse,
    PlatformRetransmitRequest,
)
from gateway.protocol.bodies.location import (
    AlarmFlag,
    LinkCheck,
    LocationBatch,
    LocationReport,
    QueryLocation,
    QueryLocationResponse,
    StatusFlag,
    TemporaryTracking,
)
from gateway.protocol.bodies.messaging import Answer, Question, QuestionAnswer, TextMessage
from gateway.protocol.bodies.multimedia import (
    RECORD_VIDEO,
    MediaType,
    MultimediaData,
    MultimediaDataResponse,
    SearchMedia,
    SearchMediaResponse,
    TakePhoto,
    TakePhotoResponse,
)
from gateway.protocol.bodies.parameters import (
    Parameter,
    ParameterId,
    QueryAllParameters,
    QueryParameters,
    QueryParametersResponse,
    SetParameters,
)
from gateway.protocol.bodies.passthrough import PlatformRsaKey, TerminalRsaKey
from gateway.protocol.bodies.registration import RegisterResult
from gateway.protocol.bodies.tachograph import (
    CardStatus,
    DriverIdentityReport,
    RequestDriverIdentity,
    TachographCollect,
    TachographUpload,
)
from gateway.protocol.bodies.terminal import (
    QueryAttributes,
    QueryAttributesResponse,
    TerminalControl,
    UpgradePackage,
    UpgradeResult,
)
from gateway.protocol.bodies.vehicle import (
    ControlItem,
    ControlType,
    DoorCommand,
    VehicleControl,
    VehicleControlResponse,
)
from gateway.protocol.body import Body, RawBody
from gateway.protocol.commands import CommandAnswered, CommandEvent, CommandFailed
from gateway.protocol.errors import ResultCode
from gateway.protocol.framing import FrameDecoder
from gateway.protocol.header import Header
from gateway.protocol.ids import MessageId
from gateway.protocol.message import Message, decode_packet, encode
from gateway.protocol.session import (
    AuthenticationReceived,
    MessageReceived,
    RegistrationReceived,
    SessionEvent,
    SessionLimits,
    TerminalAuthenticated,
    TerminalRegistered,
    TerminalSession,
)
from gateway.protocol.versions import ALL_VERSIONS, V2011, V2013, V2019, ProtocolVersion
from gateway.protocol.wire import CHINA_TZ
from gateway.registry import Device

START = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
AUTH_CODE = "SIM-AUTH-1"
PHONE_START = 13_800_000_000
SINCE_2013 = [V2013, V2019]


# --------------------------------------------------------------------------------------------
# The in-memory link


@dataclass
class Link:
    """A terminal and a session joined by a perfect wire (``drop`` loses chosen frames)."""

    terminal: SimulatedTerminal
    session: TerminalSession
    accept: Callable[[str], bool] = lambda code: code == AUTH_CODE
    register_result: RegisterResult = RegisterResult.SUCCESS
    now: float = 0.0
    session_events: list[SessionEvent] = field(default_factory=list)
    terminal_events: list[TerminalEvent] = field(default_factory=list)
    auth_requests: list[AuthenticationReceived] = field(default_factory=list)

    @classmethod
    def open(
        cls, version: ProtocolVersion, *, limits: SessionLimits | None = None, **terminal: Any
    ) -> Link:
        profile = fleet_profile(0, version=version, phone_start=PHONE_START)
        return cls(
            SimulatedTerminal(profile, now=0.0, started_at=START, **terminal),
            TerminalSession(limits, now=0.0, utc_now=lambda: START),
        )

    def pump(self, *, drop: Callable[[bytes], bool] = lambda frame: False) -> None:
        """Exchange bytes until both sides are quiet."""
        for _ in range(1000):
            up = self.terminal.data_to_send()
            for frame in _frames(up):
                if not drop(frame):
                    self._to_session(frame)
            down = self.session.data_to_send()
            if down:
                self.terminal_events += self.terminal.receive_data(down, self.now)
            if not up and not down:
                return
        raise AssertionError("the link never went quiet")

    def _to_session(self, data: bytes) -> None:
        session = self.session
        self.session_events += session.receive_data(data, self.now)
        while (decision := session.awaiting_decision) is not None:
            if isinstance(decision, RegistrationReceived):
                self.session_events += session.answer_registration(
                    decision, self.register_result, AUTH_CODE, self.now
                )
            elif isinstance(decision, AuthenticationReceived):
                self.auth_requests.append(decision)
                accepted = self.accept(decision.auth_code)
                self.session_events += session.answer_authentication(decision, accepted, self.now)
            else:
                self.session_events += session.answer_logout(decision, self.now)

    def log_in(self) -> None:
        self.terminal_events += self.terminal.connect(self.now)
        self.pump()
        assert self.terminal.online, self.terminal_events

    def command(self, body: Body, *, msg_id: int | None = None) -> CommandEvent:
        """Send a platform command through the session; returns how it ended."""
        pending = self.session.send_command(body, self.now, timeout=30.0, msg_id=msg_id)
        self.pump()
        for event in self.session_events:
            if (
                isinstance(event, CommandAnswered | CommandFailed)
                and event.command_id == pending.command_id
            ):
                return event
        raise AssertionError(f"command 0x{pending.msg_id:04X} was not answered")

    def received(self) -> list[Message]:
        """Messages the session delivered (not replies to commands)."""
        return [e.message for e in self.session_events if isinstance(e, MessageReceived)]

    def events_of(self, kind: type[Any]) -> list[Any]:
        return [event for event in self.terminal_events if isinstance(event, kind)]

    def platform_frame(self, body: Body, serial: int = 900) -> bytes:
        """A frame as the platform would write it to this terminal."""
        version = self.terminal.version
        header = Header(body.MSG_ID, self.terminal.phone, serial, version, int(version is V2019))
        return encode(header, body)


def _frames(data: bytes) -> list[bytes]:
    """Each delimited frame of ``data`` on its own (so a link can drop one)."""
    frames: list[bytes] = []
    start = None
    for index, byte in enumerate(data):
        if byte == 0x7E:
            if start is None:
                start = index
            else:
                frames.append(data[start : index + 1])
                start = None
    return frames


def answered(event: CommandEvent) -> Message:
    assert isinstance(event, CommandAnswered), event
    return event.reply


def general_result(event: CommandEvent) -> int:
    reply = answered(event)
    assert reply.msg_id == MessageId.TERMINAL_GENERAL_RESPONSE
    return event.result  # type: ignore[union-attr]


# --------------------------------------------------------------------------------------------
# Identity


def test_fleet_profiles_count_phones_up_and_fit_every_revision() -> None:
    first = fleet_profile(0, version=V2013, phone_start=PHONE_START)
    tenth = fleet_profile(9, version=V2013, phone_start=PHONE_START)
    assert (first.phone, tenth.phone) == ("013800000000", "013800000009")
    assert fleet_profile(0, version=V2019, phone_start=PHONE_START).phone == "0" * 9 + "13800000000"
    assert first.terminal_id == "0000001" and tenth.terminal_id == "0000010"
    assert first.device_name == "SIM_SIM-TK_0000001"  # the model as given, in every revision
    for version in ALL_VERSIONS:
        fleet_profile(99_999, version=version, phone_start=PHONE_START)


def test_a_device_profile_takes_the_identity_and_the_pins_of_a_registry_device() -> None:
    pinned = Device("M1", "X100", "T000001", phone="13912345678", plate="粤B12345", plate_color=2)
    profile = device_profile(pinned, 4, version=V2019, phone_start=PHONE_START)
    assert profile.device_name == "M1_X100_T000001"
    assert (profile.phone, profile.plate, profile.plate_color) == (
        "00000000013912345678", "粤B12345", 2,
    )  # fmt: skip
    unpinned = device_profile(Device("M1", "X100", "T2"), 4, version=V2013, phone_start=PHONE_START)
    assert unpinned.phone == fleet_profile(4, version=V2013, phone_start=PHONE_START).phone
    with pytest.raises(ValueError, match="does not fit"):  # a 13-digit phone, 12 in 2013
        device_profile(Device("M1", "X", "T", phone="1" * 13), 0, version=V2013, phone_start=1)


def test_a_phone_that_does_not_fit_the_header_is_refused() -> None:
    assert format_phone(1, V2013) == "000000000001"
    with pytest.raises(ValueError, match="12-digit"):
        format_phone(10**12, V2013)
    assert format_phone(10**12, V2019) == "00000001000000000000"


def test_identity_fields_are_checked_against_the_revision_widths() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        fleet_profile(0, version=V2013, phone_start=PHONE_START, manufacturer="TOOLONG")
    assert fleet_profile(0, version=V2019, phone_start=PHONE_START, manufacturer="ELEVENCHARS")
    with pytest.raises(ValueError, match="does not fit"):  # the 2011 model is 8 bytes
        fleet_profile(0, version=V2011, phone_start=PHONE_START, model="LONGMODEL")


def test_a_2011_registration_long_enough_to_read_as_2013_is_refused() -> None:
    with pytest.raises(ValueError, match="read as 2013"):
        TerminalProfile(phone="013800000000", version=V2011, plate="ABCDEFGHIJKL")


# --------------------------------------------------------------------------------------------
# Login


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_the_terminal_registers_keeps_the_code_and_authenticates(version: ProtocolVersion) -> None:
    link = Link.open(version)
    link.log_in()
    registered = link.events_of(Registered)
    assert [event.auth_code for event in registered] == [AUTH_CODE]
    assert link.terminal.auth_code == AUTH_CODE
    assert len(link.events_of(Authenticated)) == 1
    assert link.terminal.state is LinkState.ONLINE
    kinds = [type(e) for e in link.session_events]
    assert TerminalRegistered in kinds and TerminalAuthenticated in kinds
    assert link.session.version is version
    assert link.session.phone == link.terminal.phone


def test_the_2019_authentication_carries_imei_and_software_version() -> None:
    link = Link.open(V2019)
    link.log_in()
    (request,) = link.auth_requests
    assert request.imei == link.terminal.profile.imei
    assert request.software_version == link.terminal.profile.software_version


@pytest.mark.parametrize("version", [V2011, V2013])
def test_before_2019_the_authentication_is_the_code_alone(version: ProtocolVersion) -> None:
    link = Link.open(version)
    link.log_in()
    (request,) = link.auth_requests
    assert (request.auth_code, request.imei, request.software_version) == (AUTH_CODE, "", "")


def test_a_known_auth_code_authenticates_without_registering() -> None:
    link = Link.open(V2013, auth_code=AUTH_CODE)
    link.log_in()
    assert link.events_of(Registered) == []
    assert not any(isinstance(e, RegistrationReceived) for e in link.session_events)


def test_a_refused_known_code_makes_the_terminal_register_once_more() -> None:
    link = Link.open(V2013, auth_code="STALE-CODE")
    link.log_in()
    refused = link.events_of(AuthenticationRefused)
    assert [(e.result, e.registering_again) for e in refused] == [(1, True)]
    assert [r.auth_code for r in link.auth_requests] == ["STALE-CODE", AUTH_CODE]


def test_a_refused_fresh_code_is_the_end_of_trying() -> None:
    link = Link.open(V2013)
    link.accept = lambda code: False
    link.terminal_events += link.terminal.connect(0.0)
    link.pump()
    assert link.terminal.state is LinkState.FAILED
    assert [e.registering_again for e in link.events_of(AuthenticationRefused)] == [False]


def test_a_refused_registration_is_the_end_of_trying() -> None:
    link = Link.open(V2013)
    link.register_result = RegisterResult.TERMINAL_NOT_FOUND
    link.terminal_events += link.terminal.connect(0.0)
    link.pump()
    assert link.terminal.state is LinkState.FAILED
    assert link.events_of(RegistrationRefused) == [RegistrationRefused(4)]


# --------------------------------------------------------------------------------------------
# Reports


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_a_report_is_delivered_and_its_0x8001_gives_the_latency(version: ProtocolVersion) -> None:
    link = Link.open(version)
    link.log_in()
    link.now = 5.0
    serial = link.terminal.report_location(5.0)
    up = link.terminal.data_to_send()
    link.now = 5.25
    link._to_session(up)
    link.terminal_events += link.terminal.receive_data(link.session.data_to_send(), 5.25)
    (ack,) = link.events_of(Acknowledged)
    assert (ack.msg_id, ack.serial, ack.result, ack.reports) == (0x0200, serial, 0, 1)
    assert ack.latency == pytest.approx(0.25)
    assert link.terminal.unacked_reports == 0
    assert link.terminal.stats.reports_acked == 1
    (message,) = link.received()
    report = message.body
    assert isinstance(report, LocationReport)
    assert report.time == datetime(2024, 5, 6, 15, 8, 14, tzinfo=CHINA_TZ)  # START + 5 s, GMT+8


def test_reports_carry_the_standard_additional_items_of_their_revision() -> None:
    items: dict[ProtocolVersion, list[int]] = {}
    for version in ALL_VERSIONS:
        link = Link.open(version)
        report = link.terminal.location(10.0)
        items[version] = [item.id for item in report.extras]
        mileage = report.extra(0x01)
        assert mileage is not None and mileage.value == pytest.approx(12_000, abs=1)
        fuel = report.extra(0x02)
        assert fuel is not None and 200 < fuel.value <= 250
        assert report.status & StatusFlag.POSITIONED and report.status & StatusFlag.ACC_ON
    assert items[V2011] == [0x01, 0x02, 0x03]
    assert items[V2013] == items[V2019] == [0x01, 0x02, 0x03, 0x30, 0x31]


def test_only_2019_reports_say_moving_in_the_status() -> None:
    assert Link.open(V2019).terminal.location(10.0).status & StatusFlag.MOVING
    assert not Link.open(V2013).terminal.location(10.0).status & StatusFlag.MOVING


def test_the_track_moves_at_the_reported_speed_and_is_deterministic() -> None:
    spec = TrackSpec(speed_variation_kmh=0.0, turn_rate_deg_s=0.0, stop_every_s=0.0)
    track = Track(spec)
    start = track.sample(0.0)
    later = track.sample(60.0)
    metres = math.hypot(
        (later.latitude - start.latitude) * METRES_PER_DEGREE,
        (later.longitude - start.longitude)
        * METRES_PER_DEGREE
        * math.cos(math.radians(start.latitude)),
    )
    assert metres == pytest.approx(60.0 / 3.6 * 60, rel=0.01)  # 60 km/h for a minute: 1 km
    assert later.odometer_km - start.odometer_km == pytest.approx(1.0, rel=0.01)
    assert later.fuel_l < start.fuel_l
    again = Track(spec)
    assert [again.sample(t) for t in (0.0, 60.0)] == [start, later]


def test_the_default_track_turns_stops_and_keeps_sensor_readings_in_range() -> None:
    track = Track(TrackSpec.for_vehicle(3))
    points = [track.sample(float(t)) for t in range(0, 900, 5)]
    assert len({round(p.heading_deg) for p in points}) > 10
    assert any(p.speed_kmh == 0.0 for p in points) and any(p.speed_kmh > 30 for p in points)
    assert all(0 <= p.signal_strength <= 31 and p.satellites >= 4 for p in points)


def test_overspeed_is_raised_once_0x8103_lowers_the_speed_limit() -> None:
    link = Link.open(V2013)
    link.log_in()
    assert not link.terminal.location(10.0).alarm & AlarmFlag.OVERSPEED
    limit = Parameter.of(ParameterId.MAX_SPEED, 5)
    assert general_result(link.command(SetParameters(parameters=[limit]))) == 0
    assert link.terminal.location(20.0).alarm & AlarmFlag.OVERSPEED


@pytest.mark.parametrize("blind_area", [False, True])
@pytest.mark.parametrize("version", SINCE_2013)
def test_a_0x0704_batch_is_delivered_whole_and_acknowledged_once(
    version: ProtocolVersion, blind_area: bool
) -> None:
    link = Link.open(version)
    link.log_in()
    link.now = 30.0
    link.terminal.report_batch(5, 30.0, blind_area=blind_area)
    link.pump()
    (message,) = link.received()
    batch = message.body
    assert isinstance(batch, LocationBatch)
    assert batch.type == int(blind_area) and len(batch.items) == 5
    times = [item.time for item in batch.items]
    assert all(time is not None for time in times)
    assert times[-1] == link.terminal.wall_time(30.0)
    assert [t.timestamp() for t in times if t] == sorted(t.timestamp() for t in times if t)
    (ack,) = link.events_of(Acknowledged)
    assert (ack.msg_id, ack.reports) == (0x0704, 5)
    assert link.terminal.stats.reports_acked == 5


def test_a_batch_too_long_for_one_frame_is_split_and_counted_acknowledged_at_the_end() -> None:
    link = Link.open(V2013)
    link.log_in()
    link.terminal.report_batch(60, 60.0)
    link.pump()
    (message,) = link.received()
    assert isinstance(message.body, LocationBatch) and len(message.body.items) == 60
    acks = link.events_of(Acknowledged)
    assert (
        len(acks) > 1 and [a.reports for a in acks][-1] == 60 and sum(a.reports for a in acks) == 60
    )
    assert link.terminal.unacked_report_messages == 0


def test_2011_has_no_0x0704() -> None:
    with pytest.raises(ValueError, match="2011"):
        Link.open(V2011).terminal.report_batch(3, 1.0)


def test_a_heartbeat_is_acknowledged_and_not_counted_as_a_report() -> None:
    link = Link.open(V2019)
    link.log_in()
    serial = link.terminal.heartbeat(1.0)
    link.pump()
    assert [(a.msg_id, a.serial, a.reports) for a in link.events_of(Acknowledged)] == [
        (0x0002, serial, 0)
    ]
    assert link.received() == []


def test_the_serial_counter_wraps_from_65535_to_0() -> None:
    link = Link.open(V2013, auth_code=AUTH_CODE, first_serial=65535)
    link.log_in()  # the 0x0102 took 65535
    assert link.terminal.report_location(1.0) == 0
    link.pump()
    assert link.events_of(Acknowledged)[0].serial == 0


def test_unacknowledged_messages_expire_after_the_timeout() -> None:
    terminal = Link.open(V2013).terminal
    terminal.report_location(1.0)
    terminal.report_location(2.0)
    assert terminal.expire(10.9, 10.0) == []
    (missing,) = terminal.expire(11.5, 10.0)
    assert missing == AckMissing(0x0200, 0, 1, MissingReason.TIMEOUT)
    assert terminal.unacked_reports == 1


def test_a_lost_connection_gives_up_what_was_waiting_and_a_new_one_logs_in_again() -> None:
    link = Link.open(V2013)
    link.log_in()
    link.terminal.report_location(1.0)
    lost = link.terminal.connection_lost(2.0)
    assert lost == [AckMissing(0x0200, 2, 1, MissingReason.DISCONNECTED)]
    assert link.terminal.state is LinkState.OFFLINE and link.terminal.awaiting == 0
    link.session = TerminalSession(now=3.0, utc_now=lambda: START)
    link.log_in()  # with the code it kept: no second registration
    assert len(link.events_of(Registered)) == 1


def test_logout_is_acknowledged_and_the_next_connection_registers_again() -> None:
    link = Link.open(V2013)
    link.log_in()
    serial = link.terminal.logout(1.0)
    link.pump()
    assert [(a.msg_id, a.serial, a.result) for a in link.events_of(Acknowledged)] == [
        (0x0003, serial, 0)
    ]
    assert link.terminal.auth_code is None and link.terminal.state is LinkState.OFFLINE
    link.session = TerminalSession(now=2.0, utc_now=lambda: START)
    link.log_in()
    assert len(link.events_of(Registered)) == 2


def test_the_awaiting_table_is_bounded() -> None:
    terminal = Link.open(V2013).terminal
    for _ in range(MAX_AWAITING + 3):
        terminal.heartbeat(0.0)
    assert terminal.awaiting == MAX_AWAITING
    assert terminal.stats.missing == 3
    evicted = terminal.expire(0.0, 10.0)  # handed out with the next expire or receive_data
    assert evicted == [AckMissing(0x0002, n, 0, MissingReason.EVICTED) for n in range(3)]


# --------------------------------------------------------------------------------------------
# Sub-packaged uploads


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_a_photo_upload_is_split_reassembled_and_confirmed_with_0x8800(
    version: ProtocolVersion,
) -> None:
    link = Link.open(version)
    link.log_in()
    first = link.terminal.next_serial
    media_id = link.terminal.upload_media(5000, 2.0)
    frames = _frames(link.terminal.data_to_send())
    assert len(frames) == 5  # 36 + 5000 bytes in slices of 1023
    serials = [decode_packet(f[1:-1], version_hint=version).header.serial for f in frames]
    assert serials == list(range(first, first + 5))
    for frame in frames:
        link._to_session(frame)
    link.pump()
    (message,) = link.received()
    body = message.body
    assert isinstance(body, MultimediaData) and body.media_id == media_id
    assert len(body.data) == 5000 and body.data[:2] == b"\xff\xd8" and body.data[-2:] == b"\xff\xd9"
    (done,) = link.events_of(UploadCompleted)
    assert (done.media_id, done.packets) == (media_id, 5)
    assert link.terminal.uploads_pending == 0


@pytest.mark.parametrize("version", [V2013, V2019])  # 0x8003 exists from 2013 on
def test_a_packet_lost_on_the_way_is_resent_for_the_gateways_0x8003(
    version: ProtocolVersion,
) -> None:
    limits = SessionLimits(reassembly_retransmit_after=5.0)
    link = Link.open(version, limits=limits)
    link.log_in()
    link.terminal.upload_media(3000, 1.0)
    lost: list[bytes] = []

    def drop_packet_2(frame: bytes) -> bool:
        header = decode_packet(frame[1:-1], version_hint=version).header
        if header.packet is not None and header.packet.index == 2 and not lost:
            lost.append(frame)
            return True
        return False

    link.pump(drop=drop_packet_2)
    assert lost and link.received() == []
    link.now = 6.0
    link.session_events += link.session.handle_timer(6.0)  # the gateway asks with 0x8003
    link.pump()
    (resent,) = link.events_of(PacketsResent)
    assert (resent.msg_id, resent.packet_ids) == (0x0801, (2,))
    (message,) = link.received()
    assert isinstance(message.body, MultimediaData) and len(message.body.data) == 3000
    assert len(link.events_of(UploadCompleted)) == 1


def test_0x8800_naming_packets_gets_them_resent_and_an_empty_one_completes() -> None:
    link = Link.open(V2013)
    link.log_in()
    media_id = link.terminal.upload_media(2500, 1.0)
    original = _frames(link.terminal.data_to_send())
    again = MultimediaDataResponse(media_id=media_id, retransmit_ids=[3, 1])
    events = link.terminal.receive_data(link.platform_frame(again), 2.0)
    assert events == [PacketsResent(0x0801, events[0].first_serial, (3, 1))]  # type: ignore[union-attr]
    assert _frames(link.terminal.data_to_send()) == [original[2], original[0]]
    done = link.terminal.receive_data(
        link.platform_frame(MultimediaDataResponse(media_id=media_id)), 3.0
    )
    assert [type(e) for e in done] == [UploadCompleted]


def test_0x8003_for_a_message_the_terminal_no_longer_holds_is_answered_failure() -> None:
    link = Link.open(V2013)
    link.log_in()
    request = PlatformRetransmitRequest(original_serial=4321, packet_ids=[1])
    events = link.terminal.receive_data(link.platform_frame(request, serial=77), 1.0)
    assert events == [CommandReplied(0x8003, 77, (0x0001,), 1)]


# --------------------------------------------------------------------------------------------
# Commands with a dedicated reply


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_0x8104_is_answered_with_the_whole_parameter_set(version: ProtocolVersion) -> None:
    link = Link.open(version, heartbeat_interval_s=45)
    link.log_in()
    reply = answered(link.command(QueryAllParameters())).body
    assert isinstance(reply, QueryParametersResponse)
    heartbeat = reply.parameter(ParameterId.HEARTBEAT_INTERVAL)
    assert heartbeat is not None and heartbeat.value == 45
    odometer = reply.parameter(ParameterId.ODOMETER)
    assert odometer is not None and odometer.value == pytest.approx(120_000, abs=10)
    plate = reply.parameter(ParameterId.PLATE)
    assert (plate is None) == (version is V2011)  # 0x0083 came with 2013


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_0x8103_updates_what_0x8104_answers(version: ProtocolVersion) -> None:
    link = Link.open(version)
    link.log_in()
    update = [
        Parameter.of(ParameterId.HEARTBEAT_INTERVAL, 90),
        Parameter.of(ParameterId.MAIN_SERVER_APN, "LAB-APN"),
        Parameter(id=0xF001, raw=b"\x01\x02"),  # a vendor id is kept as sent
    ]
    assert general_result(link.command(SetParameters(parameters=update))) == 0
    reply = answered(link.command(QueryAllParameters())).body
    assert isinstance(reply, QueryParametersResponse)
    values = {p.id: p.raw for p in reply.parameters}
    assert values[0x0001] == (90).to_bytes(4, "big")
    assert values[0x0010] == b"LAB-APN" and values[0xF001] == b"\x01\x02"


def test_a_0x8103_split_into_packets_is_reassembled_and_answered_for_its_last_packet() -> None:
    link = Link.open(V2013)
    link.log_in()
    many = [Parameter(id=0xF000 + n, raw=bytes(20)) for n in range(60)]  # ~1.5 kB
    event = link.command(SetParameters(parameters=many))
    assert general_result(event) == 0
    assert link.terminal.parameters[0xF03B] == bytes(20)


@pytest.mark.parametrize("version", SINCE_2013)
def test_0x8106_is_answered_with_only_the_parameters_asked_for(version: ProtocolVersion) -> None:
    link = Link.open(version)
    link.log_in()
    asked = [ParameterId.MAX_SPEED, 0xFFFF, ParameterId.HEARTBEAT_INTERVAL]
    reply = answered(link.command(QueryParameters(ids=asked))).body
    assert isinstance(reply, QueryParametersResponse)
    assert [p.id for p in reply.parameters] == [0x0055, 0x0001]  # unknown ids are left out


@pytest.mark.parametrize("version", SINCE_2013)
def test_0x8107_is_answered_with_the_terminal_attributes(version: ProtocolVersion) -> None:
    link = Link.open(version)
    link.log_in()
    reply = answered(link.command(QueryAttributes())).body
    assert isinstance(reply, QueryAttributesResponse)
    profile = link.terminal.profile
    assert (reply.manufacturer_id, reply.terminal_model, reply.terminal_id) == (
        profile.manufacturer_id,
        profile.terminal_model,
        profile.terminal_id,
    )
    assert reply.iccid == profile.iccid and reply.firmware_version == profile.software_version


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_0x8201_is_answered_with_the_current_position(version: ProtocolVersion) -> None:
    link = Link.open(version)
    link.log_in()
    link.now = 120.0
    reply = answered(link.command(QueryLocation()))
    body = reply.body
    assert isinstance(body, QueryLocationResponse)
    assert body.location.time == link.terminal.wall_time(120.0)
    assert (body.location.latitude, body.location.longitude) == (
        link.terminal.location(120.0).latitude,
        link.terminal.location(120.0).longitude,
    )


@pytest.mark.parametrize(
    ("version", "command", "locked"),
    [
        (V2011, VehicleControl(control_flags=0), False),
        (V2011, VehicleControl(control_flags=1), True),
        (V2013, VehicleControl(control_flags=0), False),
        (V2013, VehicleControl(control_flags=1), True),
        (
            V2019,
            VehicleControl(
                items=[ControlItem(control_type=ControlType.DOOR, parameter=DoorCommand.OPEN)]
            ),
            False,
        ),
        (
            V2019,
            VehicleControl(
                items=[
                    ControlItem(control_type=ControlType.DOOR, parameter=DoorCommand.CLOSE_AND_LOCK)
                ]
            ),
            True,
        ),
    ],
    ids=["2011-unlock", "2011-lock", "2013-unlock", "2013-lock", "2019-open", "2019-lock"],
)
def test_0x8500_is_acknowledged_then_answered_0x0500_with_the_door_bit_as_commanded(
    version: ProtocolVersion, command: VehicleControl, locked: bool
) -> None:
    link = Link.open(version)
    link.log_in()
    link.terminal.doors_locked = not locked
    before = len(link.terminal_events)
    reply = answered(link.command(command)).body
    assert isinstance(reply, VehicleControlResponse)
    assert bool(reply.location.status & StatusFlag.DOOR_LOCKED) is locked
    (replied,) = [e for e in link.terminal_events[before:] if isinstance(e, CommandReplied)]
    assert replied.replies == (0x0001, 0x0500)  # the general response first


def test_a_2019_0x8500_of_a_control_type_the_terminal_lacks_is_answered_unsupported() -> None:
    link = Link.open(V2019)
    link.log_in()
    command = VehicleControl(undecoded=b"\xf0\x01\x07", undecoded_count=1)
    assert general_result(link.command(command)) == ResultCode.UNSUPPORTED
    assert link.terminal.doors_locked  # unchanged


@pytest.mark.parametrize("version", SINCE_2013)
def test_0x8801_is_answered_with_0x0805_listing_the_media_taken(version: ProtocolVersion) -> None:
    link = Link.open(version)
    link.log_in()
    photo = TakePhoto(
        channel_id=1, command=3, interval_s=0, save=1, resolution=1, quality=5,
        brightness=128, contrast=64, saturation=64, chroma=128,
    )  # fmt: skip
    reply = answered(link.command(photo)).body
    assert isinstance(reply, TakePhotoResponse)
    assert reply.result == 0 and reply.media_ids == [1, 2, 3]
    video = answered(link.command(TakePhoto(**{**_fields(photo), "command": RECORD_VIDEO}))).body
    assert isinstance(video, TakePhotoResponse) and video.media_ids == [4]
    wrong = answered(link.command(TakePhoto(**{**_fields(photo), "channel_id": 9}))).body
    assert isinstance(wrong, TakePhotoResponse) and (wrong.result, wrong.media_ids) == (2, [])


def test_a_2011_terminal_answers_0x8801_with_0x0001() -> None:
    link = Link.open(V2011)
    link.log_in()
    photo = TakePhoto(
        channel_id=1, command=1, interval_s=0, save=1, resolution=1, quality=5,
        brightness=128, contrast=64, saturation=64, chroma=128,
    )  # fmt: skip
    assert general_result(link.command(photo)) == 0


def test_0x8801_with_save_0_uploads_the_photos_when_asked_to() -> None:
    link = Link.open(V2013, photo_upload_size=1500)
    link.log_in()
    photo = TakePhoto(
        channel_id=2, command=2, interval_s=0, save=0, resolution=1, quality=5,
        brightness=128, contrast=64, saturation=64, chroma=128,
    )  # fmt: skip
    answered(link.command(photo))
    uploads = [m.body for m in link.received() if isinstance(m.body, MultimediaData)]
    assert [(u.media_id, u.channel_id, len(u.data)) for u in uploads] == [
        (1, 2, 1500),
        (2, 2, 1500),
    ]
    assert len(link.events_of(UploadCompleted)) == 2


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_0x8802_lists_the_stored_media_that_match(version: ProtocolVersion) -> None:
    link = Link.open(version)
    link.log_in()
    link.terminal.upload_media(100, 1.0, channel_id=1)
    link.terminal.upload_media(100, 2.0, channel_id=2)
    link.pump()
    search = SearchMedia(media_type=0, channel_id=2, event=0, start_time=None, end_time=None)
    reply = answered(link.command(search)).body
    assert isinstance(reply, SearchMediaResponse)
    assert [(i.media_id, i.channel_id, i.media_type) for i in reply.items] == [
        (2, 2, MediaType.IMAGE)
    ]
    everything = answered(link.command(SearchMedia(**{**_fields(search), "channel_id": 0}))).body
    assert isinstance(everything, SearchMediaResponse) and len(everything.items) == 2


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_0x8700_is_answered_with_a_gbt19056_frame(version: ProtocolVersion) -> None:
    link = Link.open(version)
    link.log_in()
    reply = answered(link.command(TachographCollect(command=0x00))).body
    assert isinstance(reply, TachographUpload) and reply.command == 0x00
    # 55 7A, command 00, length 0002, reserved 00, data 12 00 (2012, revision 0), XOR 3F
    assert reply.data == bytes.fromhex("557a0000020012003f")
    checksum = 0
    for byte in reply.data[:-1]:
        checksum ^= byte
    assert reply.data[-1] == checksum
    assert tachograph_frame(0x02, b"")[:6] == bytes.fromhex("557a02000000")


@pytest.mark.parametrize("version", SINCE_2013)
def test_0x8702_is_answered_with_the_drivers_card(version: ProtocolVersion) -> None:
    link = Link.open(version)
    link.log_in()
    reply = answered(link.command(RequestDriverIdentity())).body
    assert isinstance(reply, DriverIdentityReport)
    assert reply.status == CardStatus.INSERTED and reply.read_result == 0
    assert reply.driver_name == "张三" and reply.licence_expiry == date(2030, 12, 31)
    assert (reply.id_card_number != "") is (version is V2019)


def test_0x8608_is_answered_with_the_areas_0x8600_set() -> None:
    link = Link.open(V2019)
    link.log_in()
    circles = [
        CircleArea(area_id=n, attribute=0, latitude_e6=22_500_000, longitude_e6=114_000_000,
                   radius_m=100 * n)
        for n in (1, 2, 3)
    ]  # fmt: skip
    assert (
        general_result(link.command(SetCircleAreas(set_type=AreaSetType.UPDATE, areas=circles)))
        == 0
    )
    assert general_result(link.command(DeleteCircleAreas(area_ids=[2]))) == 0
    reply = answered(link.command(QueryAreas(query_type=AreaQueryType.CIRCLE, ids=[]))).body
    assert isinstance(reply, QueryAreasResponse)
    assert [item.areas[0].area_id for item in reply.items] == [1, 3]  # type: ignore[union-attr]
    some = answered(link.command(QueryAreas(query_type=AreaQueryType.CIRCLE, ids=[3]))).body
    assert isinstance(some, QueryAreasResponse) and len(some.items) == 1
    empty = answered(link.command(QueryAreas(query_type=AreaQueryType.ROUTE, ids=[]))).body
    assert isinstance(empty, QueryAreasResponse) and empty.items == []


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_0x8a00_is_answered_with_the_terminals_key(version: ProtocolVersion) -> None:
    link = Link.open(version)
    link.log_in()
    key = PlatformRsaKey(exponent=65537, modulus=bytes(range(128)))
    reply = answered(link.command(key)).body
    assert isinstance(reply, TerminalRsaKey)
    assert reply.exponent == 65537 and len(reply.modulus) == 128 and reply.modulus[0] & 0x80
    assert link.terminal.platform_rsa_key == key


@pytest.mark.parametrize("version", [V2011, V2013])
def test_0x8302_is_acknowledged_then_answered_with_the_first_choice(
    version: ProtocolVersion,
) -> None:
    link = Link.open(version)
    link.log_in()
    question = Question(flag=0, question="继续?", answers=[Answer(answer_id=7, content="是")])
    reply = answered(link.command(question)).body
    assert isinstance(reply, QuestionAnswer) and reply.answer_id == 7


def test_0x8108_is_acknowledged_and_the_result_follows_as_0x0108() -> None:
    link = Link.open(V2013)
    link.log_in()
    package = UpgradePackage(
        upgrade_type=0, manufacturer_id="SIM", version="2.0", package=b"x" * 10
    )
    assert general_result(link.command(package)) == 0
    (result,) = [m.body for m in link.received()]
    assert isinstance(result, UpgradeResult) and result.result == 0
    assert link.terminal.stats.unexpected_acks == 0  # its 0x8001 was expected


# --------------------------------------------------------------------------------------------
# Commands answered with 0x0001


@pytest.mark.parametrize("version", ALL_VERSIONS)
@pytest.mark.parametrize(
    "command",
    [
        TerminalControl(command=4),
        TemporaryTracking(interval_s=10, validity_s=600),
        TextMessage(flag=0x08, text="前方拥堵"),
    ],
    ids=["0x8105", "0x8202", "0x8300"],
)
def test_most_commands_are_answered_0x0001_result_0(
    version: ProtocolVersion, command: Body
) -> None:
    link = Link.open(version)
    link.log_in()
    assert general_result(link.command(command)) == ResultCode.SUCCESS


@pytest.mark.parametrize(
    ("version", "command"),
    [
        (V2011, QueryAttributes()),
        (V2011, QueryParameters(ids=[1])),
        (V2011, RequestDriverIdentity()),
        (V2013, QueryAreas(query_type=1, ids=[])),
        (V2013, LinkCheck()),
        (V2019, Question(flag=0, question="?", answers=[])),
    ],
    ids=["2011-0x8107", "2011-0x8106", "2011-0x8702", "2013-0x8608", "2013-0x8204", "2019-0x8302"],
)
def test_a_command_the_revision_does_not_define_is_answered_unsupported(
    version: ProtocolVersion, command: Body
) -> None:
    link = Link.open(version)
    link.log_in()
    assert general_result(link.command(command)) == ResultCode.UNSUPPORTED


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_an_unknown_command_id_is_answered_unsupported(version: ProtocolVersion) -> None:
    link = Link.open(version)
    link.log_in()
    event = link.command(RawBody(raw=b"\x01\x02"), msg_id=0x8F42)
    assert general_result(event) == ResultCode.UNSUPPORTED


def test_a_command_body_that_does_not_decode_is_answered_message_error() -> None:
    link = Link.open(V2013)
    link.log_in()
    event = link.command(RawBody(raw=b""), msg_id=MessageId.VEHICLE_CONTROL)  # needs 1 byte
    assert general_result(event) == ResultCode.MESSAGE_ERROR


def test_a_frame_for_another_phone_is_ignored() -> None:
    link = Link.open(V2013)
    link.log_in()
    header = Header(0x8201, "019999999999", 5, V2013)
    events = link.terminal.receive_data(encode(header, QueryLocation()), 1.0)
    assert [type(e).__name__ for e in events] == ["PlatformMessageRejected"]
    assert link.terminal.data_to_send() == b""


def test_an_unexpected_0x8001_is_counted_not_fatal() -> None:
    link = Link.open(V2013)
    link.log_in()
    ack = PlatformGeneralResponse(reply_serial=999, reply_id=0x0200, result=0)
    assert link.terminal.receive_data(link.platform_frame(ack), 1.0) == []
    assert link.terminal.stats.unexpected_acks == 1


def test_replies_are_written_in_the_terminals_header_form() -> None:
    link = Link.open(V2019)
    link.log_in()
    link.session.send_command(Heartbeat(), 0.0, timeout=5.0, msg_id=0x8204)  # a link check
    down = link.session.data_to_send()
    link.terminal.receive_data(down, 0.0)
    decoder = FrameDecoder()
    (packet,) = decoder.feed(link.terminal.data_to_send())
    assert isinstance(packet, bytes)
    header = decode_packet(packet).header
    assert header.version is V2019 and header.protocol_version == 1
    assert header.phone == link.terminal.phone


def _fields(body: Any) -> dict[str, Any]:
    return {name: getattr(body, name) for name in body.__dataclass_fields__}


def test_wall_time_is_gmt8_whole_seconds() -> None:
    terminal = Link.open(V2013).terminal
    assert terminal.wall_time(1.7) == datetime(2024, 5, 6, 15, 8, 10, tzinfo=CHINA_TZ)
    naive = SimulatedTerminal(
        fleet_profile(0, version=V2013, phone_start=1),
        now=0.0,
        started_at=START.replace(tzinfo=None),
    )
    assert naive.wall_time(0.0) == terminal.wall_time(0.0)
