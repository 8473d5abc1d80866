"""The simulator's precomputed uplink frames are byte for byte what the generic encoder gives,
and a terminal's reports built from them decode to the position of their second."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from clients.simulator.frames import UplinkFrames, general_response_head
from clients.simulator.terminal import (
    Acknowledged,
    PlatformMessageRejected,
    SimulatedTerminal,
    fleet_profile,
)
from gateway.protocol import bodies as _bodies  # noqa: F401 - registers every body
from gateway.protocol.acks import GeneralResponseTemplate
from gateway.protocol.bodies.location import LocationReport
from gateway.protocol.framing import split_frame
from gateway.protocol.header import Header
from gateway.protocol.message import decode_packet
from gateway.protocol.subpackage import encode_split
from gateway.protocol.versions import V2011, V2013, V2019, ProtocolVersion

VERSIONS = pytest.mark.parametrize("version", [V2011, V2013, V2019])
#: Serials whose bytes need escaping (0x7E, 0x7D), wrap, or are plain.
SERIALS = (0, 1, 0x7E, 0x7D7E, 0x7E7D, 0x1234, 0xFFFF)
#: Bodies: empty, with bytes to escape, and the longest that fits one frame.
BODIES = (b"", b"\x7e\x7d\x00\x01", bytes(range(256)) * 3, b"\x55" * 1023)


def generic(msg_id: int, serial: int, body: bytes, *, phone: str, version: ProtocolVersion,
            protocol_version: int) -> bytes:  # fmt: skip
    header = Header(msg_id, phone, 0, version, protocol_version)
    (frame,) = encode_split(header, body, lambda: serial).frames
    return frame


@VERSIONS
@pytest.mark.parametrize("protocol_version", [0, 1, 2])
def test_template_frames_equal_the_generic_encoder(version: ProtocolVersion,
                                                   protocol_version: int) -> None:  # fmt: skip
    phone = "13812345678" if version is not V2019 else "13800000000012345678"
    frames = UplinkFrames(phone, version, protocol_version)
    for msg_id in (0x0200, 0x0002, 0x7E7D):
        for serial in SERIALS:
            for body in BODIES:
                expected = generic(msg_id, serial, body, phone=phone, version=version,
                                   protocol_version=protocol_version)  # fmt: skip
                assert frames.frame(msg_id, serial, body) == expected, (msg_id, serial, body[:8])


def test_a_body_too_long_for_one_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="sub-packaging"):
        UplinkFrames("13800000000", V2013).frame(0x0200, 1, bytes(1024))


@VERSIONS
def test_reports_in_one_second_share_the_body_of_that_second(version: ProtocolVersion) -> None:
    profile = fleet_profile(3, version=version, phone_start=13_800_000_000)
    started = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    terminal = SimulatedTerminal(profile, now=100.0, started_at=started)
    for now in (100.0, 100.4, 100.99, 101.5, 107.0):
        serial = terminal.report_location(now)
        message = decode_packet(split_frame(terminal.data_to_send()))
        assert message.header.serial == serial and message.header.phone == profile.phone
        report = message.body
        assert isinstance(report, LocationReport)
        whole = float(int(now - 100.0))
        expected = terminal.location(100.0 + whole)
        assert (report.latitude, report.longitude, report.time) == (
            expected.latitude,
            expected.longitude,
            expected.time,
        )
    assert terminal.stats.reports_sent == terminal.unacked_reports == 5


@VERSIONS
def test_the_0x8001_head_is_what_the_gateway_writes(version: ProtocolVersion) -> None:
    profile = fleet_profile(0, version=version, phone_start=13_800_000_000)
    protocol_version = 1 if version is V2019 else 0
    template = GeneralResponseTemplate(profile.phone, version, protocol_version)
    packet = split_frame(template.frame(0x7E7E, 0x1234, 0x0200, 0))
    head = general_response_head(profile.phone, version)
    assert packet.startswith(head) and len(packet) == len(head) + 8


def test_a_damaged_0x8001_is_not_taken_as_an_acknowledgement() -> None:
    profile = fleet_profile(0, version=V2013, phone_start=13_800_000_000)
    terminal = SimulatedTerminal(profile, now=0.0, started_at=datetime(2024, 5, 6, tzinfo=UTC))
    serial = terminal.report_location(1.0)
    template = GeneralResponseTemplate(profile.phone, V2013)
    good = template.frame(9, serial, 0x0200, 0)
    damaged = good[:-3] + bytes((good[-3] ^ 0x01,)) + good[-2:]  # the result byte
    (rejected,) = terminal.receive_data(damaged, 1.5)
    assert isinstance(rejected, PlatformMessageRejected) and terminal.unacked_reports == 1
    (ack,) = terminal.receive_data(good, 2.0)
    assert isinstance(ack, Acknowledged) and ack.latency == 1.0
    assert terminal.unacked_reports == 0
