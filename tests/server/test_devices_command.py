"""``jt808 devices import | list | delete`` on a tmp data dir, through ``clients.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clients.cli import main
from gateway.auth.base import AuthenticationRequest, RegistrationRequest
from gateway.protocol.bodies.registration import RegisterResult
from gateway.registry import DeviceRegistry

CSV = """manufacturer_id,terminal_model,terminal_id,phone,plate,plate_color
ACME1,TK-1,T000001,,,
ACME1,TK-1,T000002,13800000000,粤B12345,1
ZEN01,Z-9,Z000009,,B99999,2
"""


def write(tmp_path: Path, text: str, name: str = "devices.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def registration(terminal_id: str, phone: str = "013912345678") -> RegistrationRequest:
    return RegistrationRequest(
        phone=phone, province_id=44, city_id=300, manufacturer_id="ACME1",
        terminal_model="TK-1", terminal_id=terminal_id, plate_color=0, plate="",
        protocol_version=2013, remote_address="127.0.0.1:1",
    )  # fmt: skip


def authentication(code: str, phone: str = "013912345678") -> AuthenticationRequest:
    return AuthenticationRequest(
        phone=phone, auth_code=code, imei="", software_version="", remote_address="127.0.0.1:1"
    )


def test_import_then_list_shows_every_device_with_its_pins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "data")
    assert main(["devices", "--data-dir", data, "import", str(write(tmp_path, CSV))]) == 0
    assert "imported 3 device(s)" in capsys.readouterr().out

    assert main(["devices", "--data-dir", data, "list"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "ACME1_TK-1_T000001",
        "ACME1_TK-1_T000002  phone=13800000000 plate=粤B12345",
        "ZEN01_Z-9_Z000009  plate=B99999",
    ]

    assert main(["devices", "--data-dir", data, "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[1] == {
        "name": "ACME1_TK-1_T000002", "manufacturer_id": "ACME1", "terminal_model": "TK-1",
        "terminal_id": "T000002", "phone": "13800000000", "plate": "粤B12345", "plate_color": 1,
    }  # fmt: skip


def test_import_is_an_upsert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "data")
    assert main(["devices", "--data-dir", data, "import", str(write(tmp_path, CSV))]) == 0
    update = "manufacturer_id,terminal_model,terminal_id,phone\nACME1,TK-1,T000001,13900000001\n"
    assert main(["devices", "--data-dir", data, "import", str(write(tmp_path, update))]) == 0
    capsys.readouterr()
    assert main(["devices", "--data-dir", data, "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[0] == "ACME1_TK-1_T000001  phone=13900000001"


def test_import_with_a_bad_row_names_the_line_and_imports_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "data")
    bad = CSV + "ACME1,TK-1,T000004,,,blue\n"
    source = write(tmp_path, bad)
    assert main(["devices", "--data-dir", data, "import", str(source)]) == 1
    error = capsys.readouterr().err
    assert f"jt808 devices import: {source}: line 5: plate_color 'blue' is not a number" in error
    assert main(["devices", "--data-dir", data, "list"]) == 0
    assert capsys.readouterr().out == ""  # one transaction: the good rows are not kept either


def test_import_of_a_missing_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.csv"
    assert main(["devices", "--data-dir", str(tmp_path), "import", str(missing)]) == 2
    assert f"{missing} does not exist" in capsys.readouterr().err


def test_import_accepts_a_utf8_bom(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "excel.csv"
    source.write_text(CSV, encoding="utf-8-sig")
    assert main(["devices", "--data-dir", str(tmp_path / "data"), "import", str(source)]) == 0
    assert "imported 3 device(s)" in capsys.readouterr().out


def test_data_dir_comes_from_jt808_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JT808_DATA_DIR", str(tmp_path / "from-env"))
    assert main(["devices", "import", str(write(tmp_path, CSV))]) == 0
    assert (tmp_path / "from-env" / "devices.sqlite3").exists()
    capsys.readouterr()


def test_delete_removes_the_device_and_revokes_its_auth_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    assert main(["devices", "--data-dir", str(data), "import", str(write(tmp_path, CSV))]) == 0
    with DeviceRegistry(data) as registry:
        issued = registry.register(registration("T000001"))
        assert issued.result == RegisterResult.SUCCESS
        assert registry.authenticate(authentication(issued.auth_code)).accepted

    assert main(["devices", "--data-dir", str(data), "delete", "ACME1_TK-1_T000001"]) == 0

    with DeviceRegistry(data) as registry:
        assert not registry.authenticate(authentication(issued.auth_code)).accepted
        refused = registry.register(registration("T000001"))
        assert refused.result == RegisterResult.TERMINAL_NOT_FOUND
    capsys.readouterr()
    assert main(["devices", "--data-dir", str(data), "list"]) == 0
    assert "ACME1_TK-1_T000001\n" not in capsys.readouterr().out


def test_reset_revokes_the_auth_code_so_that_the_device_registers_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    assert main(["devices", "--data-dir", str(data), "import", str(write(tmp_path, CSV))]) == 0
    with DeviceRegistry(data) as registry:
        issued = registry.register(registration("T000001"))
        again = registry.register(registration("T000001"))
        assert again.result == RegisterResult.TERMINAL_ALREADY_REGISTERED

    assert main(["devices", "--data-dir", str(data), "reset", "ACME1_TK-1_T000001"]) == 0
    assert main(["devices", "--data-dir", str(data), "reset", "NOPE_X_Y"]) == 1
    assert "no device named NOPE_X_Y" in capsys.readouterr().err

    with DeviceRegistry(data) as registry:
        assert not registry.authenticate(authentication(issued.auth_code)).accepted
        assert registry.register(registration("T000001")).result == RegisterResult.SUCCESS
        assert registry.get("ACME1_TK-1_T000001") is not None  # the device itself stays


def test_delete_of_an_unknown_name_exits_1_and_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "data")
    assert main(["devices", "--data-dir", data, "import", str(write(tmp_path, CSV))]) == 0
    assert main(["devices", "--data-dir", data, "delete", "ZEN01_Z-9_Z000009", "NOPE_X_Y"]) == 1
    assert "no device named NOPE_X_Y" in capsys.readouterr().err
    assert main(["devices", "--data-dir", data, "list"]) == 0
    assert "ZEN01" not in capsys.readouterr().out  # the known one was deleted all the same


# --------------------------------------------------------------------------------------------
# What an operator gets wrong: one sentence on stderr, an exit code, never a traceback


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in lines[0]
    return lines[0]


def test_a_csv_that_is_not_utf8_names_the_line_and_the_way_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "gbk.csv"
    source.write_bytes(CSV.encode("gb18030"))
    assert main(["devices", "--data-dir", str(tmp_path / "data"), "import", str(source)]) == 1
    error = one_error_line(capsys)
    assert error.startswith(f"jt808 devices import: {source}: line 3: not UTF-8 text")
    assert "--encoding gb18030" in error


def test_encoding_gb18030_reads_a_csv_saved_by_a_chinese_spreadsheet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "gbk.csv"
    source.write_bytes(CSV.encode("gb18030"))
    data = str(tmp_path / "data")
    assert (
        main(["devices", "--data-dir", data, "import", "--encoding", "gb18030", str(source)]) == 0
    )
    assert "imported 3 device(s)" in capsys.readouterr().out
    assert main(["devices", "--data-dir", data, "list"]) == 0
    assert "plate=粤B12345" in capsys.readouterr().out


def test_a_directory_is_not_a_csv_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "--data-dir", str(tmp_path / "data"), "import", str(tmp_path)]) == 2
    assert (
        one_error_line(capsys) == f"jt808 devices import: {tmp_path} is a directory, not a CSV file"
    )


def unusable_data_dirs(tmp_path: Path) -> dict[str, Path]:
    """Data dirs the registry cannot use, each made so (the tests run as root, so a missing
    permission proves nothing)."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory\n", encoding="utf-8")
    database_is_a_directory = tmp_path / "db-is-a-dir"
    (database_is_a_directory / "devices.sqlite3").mkdir(parents=True)
    not_a_database = tmp_path / "garbage"
    not_a_database.mkdir()
    (not_a_database / "devices.sqlite3").write_bytes(b"these bytes are no SQLite database" * 100)
    return {
        "a file": a_file,
        "below a file": a_file / "data",
        "its database a directory": database_is_a_directory,
        "its database not SQLite": not_a_database,
    }


@pytest.mark.parametrize("case", ["a file", "below a file", "its database a directory",
                                  "its database not SQLite"])  # fmt: skip
@pytest.mark.parametrize("action", [["import", "CSV"], ["list"], ["delete", "X_Y_Z"]])
def test_an_unusable_data_dir_is_named_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, action: list[str]
) -> None:
    data_dir = unusable_data_dirs(tmp_path)[case]
    csv_file = str(write(tmp_path, CSV))
    arguments = [csv_file if word == "CSV" else word for word in action]
    assert main(["devices", "--data-dir", str(data_dir), *arguments]) == 2
    error = one_error_line(capsys)
    assert error.startswith(
        f"jt808 devices {action[0]}: cannot use the data directory {data_dir}: "
    )


def test_two_rows_for_one_device_count_once_and_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    twice = CSV + "ACME1,TK-1,T000001,13900000009,,\n"
    data = str(tmp_path / "data")
    assert main(["devices", "--data-dir", data, "import", str(write(tmp_path, twice))]) == 0
    captured = capsys.readouterr()
    assert "imported 3 device(s)" in captured.out
    assert captured.err == (
        "jt808 devices import: warning: line 5 describes ACME1_TK-1_T000001 again "
        "(first on line 2); the last row wins\n"
    )
    assert main(["devices", "--data-dir", data, "list"]) == 0
    assert "ACME1_TK-1_T000001  phone=13900000009" in capsys.readouterr().out


def test_errors_never_repeat_a_long_value_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long_phone = "1" * 70 + "x" * 5000
    source = write(
        tmp_path, f"manufacturer_id,terminal_model,terminal_id,phone\nA,B,C,{long_phone}\n"
    )
    assert main(["devices", "--data-dir", str(tmp_path / "data"), "import", str(source)]) == 1
    error = one_error_line(capsys)
    assert "line 2: phone" in error and "(5070 characters)" in error
    assert len(error) < 200 + len(str(source))
