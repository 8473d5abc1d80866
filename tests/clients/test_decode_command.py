"""``jt808 decode``: one JSON object per frame, pinned field names, errors as data, --pretty."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clients import decode_command
from clients.cli import main
from gateway.protocol.framing import encode_frame

# Frames from /work/shared/vectors/real-frames.json (ids in the comments).
LOCATION_2013 = (  # v141: 0x0200 with twelve standard additional items
    "7e0200005c11223344556622b8000000010000000200ba7f0e07e4f11c0028003c00001807151010100104"
    "000000640202003703020038040200011105010000000112060100000001011307000000020022012504000000"
    "172a0200f42b04000000f2300102310105167e"
)
BATCH_2013 = (  # v153: 0x0704, two items
    "7e0704005311223344556622b80002000026000000010000000200ba7f0e07e4f11c0028003c0000180715101010"
    "010400000064020200370026000000020000000100cb735507e6a32300290036007818071510103001040000"
    "006002020042d47e"
)
REGISTER_2013 = (  # v122
    "7e0100002d000123456789000a002800323132333400736d616c6c6368693132330000000000000000004348"
    "493132330001d4c14131323334358a7e"
)
REGISTER_2011 = (  # v126
    "7e01000021000123456789000a002800323132333400746b3132333435004348493132330001d4c141313233"
    "3435857e"
)
AUTHENTICATE_2013 = "7e010200090123456789003039343536313231313131be7e"  # v127
AUTHENTICATE_2019 = (  # v195
    "7e0102402f010000000001729984173800000b3137323939383431373338313233343536373839303132333435"
    "332e372e31350000000000000000000000000000227e"
)
TERMINAL_RESPONSE = "7e000100050123456789017fff007b01c803bd7e"  # v190
PLATFORM_RESPONSE = "7e80010005012345678900000a0064020000617e"  # v156
REGISTER_RESPONSE = "7e81000009012345678900000a006400313233343536687e"  # v157
REGISTER_REFUSED = "7e81000003012345678900000a006404617e"  # v158
PASSTHROUGH = "7e09000009000123456789000a83736d616c6c6368691d7e"  # v155
ESCAPED_LOCATION = (  # v139: serial 0x007E and fuel 0x007D are escaped on the wire
    "7e02000026123456789012007d02000000010000000200ba7f0e07e4f11c0028003c00001810151010100104"
    "000000640202007d01137e"
)
HEARTBEAT_CHECK_7E = "7e00020000040021679287002b7d027e"  # v120: the check code itself is 0x7E
BAD_LENGTH = (  # v151: body length field 69, body 70 bytes
    "7e0201004504122030900509311aa90000000000080002020285f807149893000e0000015426061709223001"
    "0400260e432a0200042b040014001430011d310110520103510804f604f604f604f65f0200ff8c007e"
)
BAD_CHECKSUM = "7e0801200500123456789002de001a00022808000102547e"  # v231: 0x54, should be 0x53


def frame(packet_hex: str) -> str:
    """Wire hex of header + body given as hex (check code appended, escaped, delimited)."""
    return encode_frame(bytes.fromhex(packet_hex)).hex()


# A hand-built 0x0200: south and west, load full, three kinds of additional item.
SOUTH_WEST = frame(
    "0200002b013912345678" + "0007"  # id, properties (43 bytes), phone, serial
    "80000001"  # alarm: emergency (bit 0) + bit 31
    "0000030f"  # status: ACC on, positioned, south, west, load bits 8-9 = full
    "01f78a40"  # latitude 33 000 000 -> 33.0 S
    "09032100"  # longitude 151 200 000 -> 151.2 W
    "0064"  # altitude 100 m
    "04d2"  # speed 1234 -> 123.4 km/h
    "010e"  # direction 270
    "240229235958"  # 2024-02-29 23:59:58 GMT+8
    "010400000064"  # 0x01 mileage 100 -> 10.0 km
    "30020102"  # 0x30 signal strength with a length the standard does not allow
    "e103aabbcc"  # 0xE1 vendor item
)


def decode(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]]]:
    status = main(["decode", *argv])
    out, err = capsys.readouterr()
    assert err == ""
    return status, [json.loads(line) for line in out.splitlines()]


def decode_one(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    status, objects = decode(capsys, *argv)
    assert len(objects) == 1
    assert status == 0, objects
    return objects[0]


# --- header ------------------------------------------------------------------------------------


def test_header_has_the_pinned_names_and_keeps_phone_leading_zeros(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = decode_one(capsys, SOUTH_WEST)
    assert result["header"] == {
        "msg_id": 0x0200,
        "msg_name": "location_report",
        "version": 2013,
        "phone": "013912345678",
        "serial": 7,
        "encryption": 0,
        "packet": None,
    }
    assert result["checksum_ok"] is True
    assert list(result) == ["header", "body", "checksum_ok"]


def test_2019_header_gives_twenty_phone_digits(capsys: pytest.CaptureFixture[str]) -> None:
    header = decode_one(capsys, AUTHENTICATE_2019)["header"]
    assert header["version"] == 2019
    assert header["phone"] == "00000000017299841738"


def test_sub_package_header_gives_total_and_index(capsys: pytest.CaptureFixture[str]) -> None:
    result = decode_one(capsys, "7e0801200500123456789002de001a00022808000102537e")  # v226
    assert result["header"]["packet"] == {"total": 26, "index": 2}
    assert result["body"] == {"data": "2808000102"}


# --- bodies ------------------------------------------------------------------------------------


def test_location_fields_units_and_hemispheres(capsys: pytest.CaptureFixture[str]) -> None:
    body = decode_one(capsys, SOUTH_WEST)["body"]
    assert body["alarm"] == 0x80000001
    assert body["status"] == 0x0000030F
    assert body["latitude"] == -33.0
    assert body["longitude"] == -151.2
    assert body["altitude"] == 100
    assert body["speed"] == 123.4
    assert isinstance(body["speed"], float)
    assert body["direction"] == 270
    assert body["time"] == "2024-02-29T23:59:58+08:00"
    assert body["extras"] == [
        {"id": 0x01, "raw": "00000064", "name": "mileage_km", "value": 10.0},
        {"id": 0x30, "raw": "0102", "name": "signal_strength"},
        {"id": 0xE1, "raw": "aabbcc"},
    ]


def test_location_from_a_real_device_test_suite(capsys: pytest.CaptureFixture[str]) -> None:
    body = decode_one(capsys, LOCATION_2013)["body"]
    assert (body["latitude"], body["longitude"]) == (12.222222, 132.444444)
    assert body["speed"] == 6.0
    assert body["time"] == "2018-07-15T10:10:10+08:00"
    values = {item["id"]: item.get("value") for item in body["extras"]}
    assert values[0x01] == 10.0
    assert values[0x11] == {"location_type": 1, "area_id": 1}
    assert values[0x2B] == {"ad0": 242, "ad1": 0}


def test_location_batch_type_and_items(capsys: pytest.CaptureFixture[str]) -> None:
    body = decode_one(capsys, BATCH_2013)["body"]
    assert body["type"] == 0
    assert [item["latitude"] for item in body["items"]] == [12.222222, 13.333333]
    assert body["items"][1]["time"] == "2018-07-15T10:10:30+08:00"


def test_register_fields(capsys: pytest.CaptureFixture[str]) -> None:
    result = decode_one(capsys, REGISTER_2013)
    assert result["header"]["version"] == 2013
    assert result["body"] == {
        "province_id": 40,
        "city_id": 50,
        "manufacturer_id": "1234",
        "terminal_model": "smallchi123",
        "terminal_id": "CHI123",
        "plate_color": 1,
        "plate": "粤A12345",
    }


def test_register_2011_is_told_by_its_body_length(capsys: pytest.CaptureFixture[str]) -> None:
    result = decode_one(capsys, REGISTER_2011)
    assert result["header"]["version"] == 2011
    assert result["body"]["terminal_model"] == "tk12345"


def test_authenticate_fields_in_2013_and_2019(capsys: pytest.CaptureFixture[str]) -> None:
    _, (old, new) = decode(capsys, AUTHENTICATE_2013, AUTHENTICATE_2019)
    assert old["body"] == {"auth_code": "456121111", "imei": "", "software_version": ""}
    assert new["body"] == {
        "auth_code": "17299841738",
        "imei": "123456789012345",
        "software_version": "3.7.15",
    }


def test_general_responses_name_reply_serial_reply_id_result(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, (terminal, platform) = decode(capsys, TERMINAL_RESPONSE, PLATFORM_RESPONSE)
    assert terminal["body"] == {"reply_serial": 123, "reply_id": 0x01C8, "result": 3}
    assert platform["body"] == {"reply_serial": 100, "reply_id": 0x0200, "result": 0}


def test_register_response_has_an_auth_code_only_on_success(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, (accepted, refused) = decode(capsys, REGISTER_RESPONSE, REGISTER_REFUSED)
    assert accepted["body"] == {"reply_serial": 100, "result": 0, "auth_code": "123456"}
    assert refused["body"] == {"reply_serial": 100, "result": 4, "auth_code": ""}


def test_uplink_passthrough_type_and_data(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip(
        "gateway.protocol.bodies.passthrough", reason="0x0900 body module not written yet"
    )
    body = decode_one(capsys, PASSTHROUGH)["body"]
    assert body == {"type": 0x83, "data": b"smallchi".hex()}


def test_message_without_a_body_layout_is_kept_raw(capsys: pytest.CaptureFixture[str]) -> None:
    result = decode_one(capsys, "7e00910003001234567891007d02020012657e")  # v172, vendor 0x0091
    assert result["header"]["msg_name"] == "unknown_0x0091"
    assert result["body"] == {"raw": "020012"}


def test_bytes_after_the_body_layout_are_reported_as_trailing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = decode_one(capsys, "7e0001000701234567890004b303e800020000a8797e")  # v118
    assert result["body"] == {"reply_serial": 1000, "reply_id": 2, "result": 0}
    assert result["trailing"] == "00a8"


def test_text_that_is_not_gbk_stays_valid_json(capsys: pytest.CaptureFixture[str]) -> None:
    response = decode_one(capsys, frame("810000040123456789000001" + "000100ff"))
    assert response["body"]["auth_code"] == "\udcff"  # the byte is kept, surrogate-escaped


# --- input forms -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        PLATFORM_RESPONSE,
        PLATFORM_RESPONSE.upper(),
        PLATFORM_RESPONSE[2:-2],  # without delimiters
        " ".join(PLATFORM_RESPONSE[i : i + 2] for i in range(0, len(PLATFORM_RESPONSE), 2)),
        ", ".join("0x" + PLATFORM_RESPONSE[i : i + 2] for i in range(0, len(PLATFORM_RESPONSE), 2)),
        "0X" + PLATFORM_RESPONSE.upper(),
    ],
    ids=["plain", "upper", "no-delimiters", "spaced", "c-array", "0x-prefix"],
)
def test_hex_input_forms_decode_alike(capsys: pytest.CaptureFixture[str], text: str) -> None:
    assert decode_one(capsys, text)["body"] == {
        "reply_serial": 100,
        "reply_id": 0x0200,
        "result": 0,
    }


def test_escaped_bytes_are_restored(capsys: pytest.CaptureFixture[str]) -> None:
    result = decode_one(capsys, ESCAPED_LOCATION)
    assert result["header"]["serial"] == 0x7E
    assert result["body"]["extras"][1]["raw"] == "007d"


def test_a_line_with_several_frames_gives_one_object_per_frame(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, objects = decode(capsys, PLATFORM_RESPONSE + REGISTER_RESPONSE)
    assert status == 0
    assert [o["header"]["msg_id"] for o in objects] == [0x8001, 0x8100]


def test_unescaped_input_with_and_without_delimiters(capsys: pytest.CaptureFixture[str]) -> None:
    packet = (  # v139 with 7D 02 / 7D 01 already undone (serial 0x007E, fuel 0x007D)
        "02000026123456789012007e000000010000000200ba7f0e07e4f11c0028003c000018101510101001040000"
        "00640202007d13"
    )
    _, objects = decode(capsys, "--unescaped", packet, "7e" + packet + "7e")
    for result in objects:
        assert result["checksum_ok"] is True
        assert result["header"]["serial"] == 0x7E
        assert result["body"]["extras"][1]["raw"] == "007d"


def test_unescaped_packet_whose_check_code_is_7e(capsys: pytest.CaptureFixture[str]) -> None:
    _, objects = decode(capsys, "--unescaped", "00020000040021679287002b7e", HEARTBEAT_CHECK_7E)
    assert objects[0]["checksum_ok"] is True
    assert objects[0]["header"]["serial"] == 43
    assert "error" in objects[1]  # escaped input is not an unescaped packet


def test_stdin_one_frame_per_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{PLATFORM_RESPONSE}\n\n  \n{SOUTH_WEST}\n"))
    status, objects = decode(capsys)
    assert status == 0
    assert [o["header"]["msg_id"] for o in objects] == [0x8001, 0x0200]


def test_an_overlong_stdin_line_is_one_error_and_the_next_line_decodes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decode_command, "MAX_LINE_CHARS", 64)
    monkeypatch.setattr(sys, "stdin", io.StringIO("7e" * 500 + "\n" + PLATFORM_RESPONSE + "\n"))
    status, objects = decode(capsys)
    assert status == 1
    assert "longer than 64" in objects[0]["error"]["message"]
    assert objects[1]["body"]["reply_serial"] == 100


# --- revisions ---------------------------------------------------------------------------------


def test_version_option_sets_the_revision_of_unflagged_frames(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, (default,) = decode(capsys, PLATFORM_RESPONSE)
    _, (hinted,) = decode(capsys, "--version", "2011", PLATFORM_RESPONSE)
    assert (default["header"]["version"], hinted["header"]["version"]) == (2013, 2011)


def test_version_option_does_not_override_what_the_header_says(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, objects = decode(capsys, "--version", "2011", AUTHENTICATE_2019, REGISTER_2013)
    assert [o["header"]["version"] for o in objects] == [2019, 2013]


def test_revision_learnt_from_a_registration_applies_to_the_same_phone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    heartbeat_same_phone = frame("00020000000123456789000b")
    heartbeat_other_phone = frame("00020000013912345678000b")
    _, objects = decode(capsys, REGISTER_2011, heartbeat_same_phone, heartbeat_other_phone)
    assert [o["header"]["version"] for o in objects] == [2011, 2011, 2013]


def test_unknown_version_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["decode", "--version", "2000", PLATFORM_RESPONSE])
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "--version" in err


# --- errors ------------------------------------------------------------------------------------


def test_errors_are_objects_and_the_next_frames_still_decode(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, objects = decode(capsys, "7e00zz7e", BAD_LENGTH, "7e02007d037e", PLATFORM_RESPONSE)
    assert status == 1
    not_hex, bad_length, bad_escape, good = objects
    assert not_hex["error"]["code"] == 2
    assert not_hex["error"]["type"] == "HexInputError"
    assert not_hex["header"] is None
    assert bad_length["error"]["type"] == "HeaderError"
    assert bad_length["error"]["offset"] == 2
    assert bad_length["header"] == {  # what the bytes hold, though the header does not parse
        "msg_id": 0x0201,
        "msg_name": "query_location_response",
        "phone": "041220309005",
        "serial": 0x0931,
        "encryption": 0,
    }
    assert bad_escape["error"] == {
        "code": 2,
        "type": "FramingError",
        "message": "0x7D must be followed by 0x01 or 0x02 (escaped 0x7D or 0x7E)",
        "offset": 3,  # the 7D in the input bytes 7e 02 00 7d 03 7e
    }
    assert good["body"]["reply_serial"] == 100
    assert "error" not in good


def test_body_error_carries_the_full_header(capsys: pytest.CaptureFixture[str]) -> None:
    status, (result,) = decode(capsys, frame("00010003013912345678002a" + "000102"))
    assert status == 1
    assert result["header"]["serial"] == 42
    assert result["header"]["version"] == 2013
    assert result["checksum_ok"] is True
    assert result["error"]["type"] == "TruncatedBodyError"
    assert result["error"]["code"] == 2
    assert result["error"]["offset"] == 12  # in the packet: where the body starts
    assert "body" not in result


def test_wrong_check_code_still_decodes_and_fails_the_exit_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, (result,) = decode(capsys, BAD_CHECKSUM)
    assert status == 1
    assert result["checksum_ok"] is False
    assert result["header"]["packet"] == {"total": 26, "index": 2}
    assert "error" not in result


def test_delimiters_alone_are_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, (result,) = decode(capsys, "7e7e")
    assert status == 1
    assert result["error"]["type"] == "FramingError"


# --- --pretty ----------------------------------------------------------------------------------


def test_pretty_names_flags_items_and_units(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "--pretty", SOUTH_WEST]) == 0
    out = capsys.readouterr().out
    assert "0x0200 location_report" in out
    assert "JT/T 808-2013" in out
    assert "checksum ok" in out
    assert "EMERGENCY, ILLEGAL_DOOR_OPEN" in out
    assert "ACC_ON, POSITIONED, SOUTH_LATITUDE, WEST_LONGITUDE, LOAD_FULL" in out
    assert "33.000000 S, 151.200000 W" in out
    assert "123.4 km/h" in out
    assert "0x01 mileage_km" in out
    assert "0xe1 (unknown id)" in out
    assert "header  0200 002b 013912345678 0007" in out


def test_pretty_names_reply_ids_and_results(capsys: pytest.CaptureFixture[str]) -> None:
    main(["decode", "--pretty", PLATFORM_RESPONSE, REGISTER_REFUSED])
    out = capsys.readouterr().out
    assert "reply_id      0x0200 location_report" in out
    assert "result        4 (terminal_not_found)" in out


def test_pretty_shows_errors_and_wrong_check_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "--pretty", BAD_LENGTH, BAD_CHECKSUM, "xyz"]) == 1
    out = capsys.readouterr().out
    assert "#1  0x0201 query_location_response" in out
    assert "ERROR HeaderError: body length field says 69 bytes" in out
    assert "a server answers result 2 (message_error); problem at byte 2" in out
    assert "CHECKSUM WRONG (frame carries 0x54, header + body give 0x53)" in out
    assert "sub-packaged message" in out
    assert "#3" in out
    assert "ERROR HexInputError" in out


# --- never a traceback ---------------------------------------------------------------------------


@given(data=st.binary(max_size=600), unescaped=st.booleans())
def test_any_bytes_as_hex_give_json_objects_and_pretty_text(data: bytes, unescaped: bool) -> None:
    decoder = decode_command.CaptureDecoder(unescaped=unescaped)
    for number, report in enumerate(decoder.decode_line(data.hex()), 1):
        json.dumps(report.view)
        decode_command.render_pretty(report, number)


@given(line=st.text(max_size=200))
def test_any_text_line_gives_json_objects(line: str) -> None:
    for report in decode_command.CaptureDecoder().decode_line(line):
        json.dumps(report.view)


# --- the installed command ---------------------------------------------------------------------


def test_installed_command_reads_stdin() -> None:
    command = shutil.which("jt808", path=str(Path(sys.executable).parent))
    if command is None:
        pytest.skip("the jt808 console script is not installed next to this Python")
    stdin = f"{SOUTH_WEST}\n".encode() + b"\xff\xfe not utf-8\n" + f"{REGISTER_2013}\n".encode()
    completed = subprocess.run(
        [command, "decode"], input=stdin, capture_output=True, timeout=60, check=False
    )
    assert completed.stderr == b""
    assert completed.returncode == 1
    location, garbage, register = (json.loads(line) for line in completed.stdout.splitlines())
    assert location["body"]["latitude"] == -33.0
    assert garbage["error"]["type"] == "HexInputError"
    assert register["body"]["plate"] == "粤A12345"
