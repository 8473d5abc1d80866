"""0x0001, 0x8001, 0x0002, 0x0003, 0x0004, 0x8004, 0x8003, 0x0005 and registration bodies."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.protocol import V2011, V2013, V2019, ProtocolVersion
from gateway.protocol.bodies.general import (
    Heartbeat,
    PlatformGeneralResponse,
    PlatformRetransmitRequest,
    QueryServerTime,
    ServerTimeResponse,
    TerminalGeneralResponse,
    TerminalLogout,
    TerminalRetransmitRequest,
)
from gateway.protocol.bodies.registration import (
    TerminalAuthenticate,
    TerminalRegister,
    TerminalRegisterResponse,
)
from gateway.protocol.body import Body

from .body_properties import body_property_tests, golden_bytes_test
from .strategies import decode_layout, encode_layout

BODIES: list[tuple[type[Body], tuple[ProtocolVersion, ...]]] = [
    (TerminalGeneralResponse, (V2011, V2013, V2019)),
    (PlatformGeneralResponse, (V2011, V2013, V2019)),
    (Heartbeat, (V2011, V2013, V2019)),
    (TerminalLogout, (V2011, V2013, V2019)),
    (QueryServerTime, (V2019,)),
    (ServerTimeResponse, (V2019,)),
    (PlatformRetransmitRequest, (V2013, V2019)),
    (TerminalRetransmitRequest, (V2019,)),
    (TerminalRegister, (V2011, V2013, V2019)),
    (TerminalRegisterResponse, (V2011, V2013, V2019)),
    (TerminalAuthenticate, (V2011, V2013, V2019)),
]

test_body_properties = body_property_tests(BODIES)


GOLDEN: list[tuple[Body, ProtocolVersion, str]] = [
    (TerminalGeneralResponse(reply_serial=0x1234, reply_id=0x8103, result=3), V2013, "1234810303"),
    (PlatformGeneralResponse(reply_serial=0x881D, reply_id=0x0704, result=4), V2019, "881d070404"),
    (Heartbeat(), V2013, ""),
    (
        ServerTimeResponse(time=datetime(2017, 3, 15, 17, 9, 23, tzinfo=UTC)),
        V2019,
        "170315170923",
    ),
    (PlatformRetransmitRequest(original_serial=0x0102, packet_ids=[2, 5]), V2013, "01020200020005"),
    (
        PlatformRetransmitRequest(original_serial=0x0102, packet_ids=[2, 5]),
        V2019,
        "0102000200020005",
    ),
    (
        TerminalRegisterResponse(reply_serial=0x5218, result=0, auth_code="123456"),
        V2019,
        "521800313233343536",
    ),
    (TerminalRegisterResponse(reply_serial=0x5218, result=4, auth_code=""), V2013, "521804"),
    (TerminalAuthenticate(auth_code="authentication"), V2013, b"authentication".hex()),
    (
        TerminalAuthenticate(auth_code="ab", imei="866496077582164", software_version="v1.2"),
        V2019,
        "026162" + b"866496077582164".hex() + b"v1.2".hex() + "00" * 16,
    ),
    (
        TerminalRegister(
            province_id=40,
            city_id=50,
            manufacturer_id="1234",
            terminal_model="tk12345",
            terminal_id="CHI123",
            plate_color=1,
            plate="粤A12345",
        ),
        V2011,
        "002800323132333400" + "746b313233343520" + "43484931323300" + "01" + "d4c1413132333435",
    ),
]

test_golden_bytes = golden_bytes_test(GOLDEN)


def test_server_time_is_utc_while_other_times_are_gmt8() -> None:
    body = decode_layout(ServerTimeResponse, bytes.fromhex("170315170923"), V2019)
    assert body.time == datetime(2017, 3, 15, 17, 9, 23, tzinfo=UTC)


def test_register_response_has_no_auth_code_on_failure() -> None:
    body = TerminalRegisterResponse(reply_serial=1, result=2, auth_code="ignored")
    assert encode_layout(body, V2013).hex() == "000102"


def test_authenticate_2011_drops_trailing_zero_terminator() -> None:
    body = decode_layout(TerminalAuthenticate, b"code\x00", V2011)
    assert body.auth_code == "code"
