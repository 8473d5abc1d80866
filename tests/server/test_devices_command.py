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


def test_delete_of_an_unknown_name_exits_1_and_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "data")
    assert main(["devices", "--data-dir", data, "import", str(write(tmp_path, CSV))]) == 0
    assert main(["devices", "--data-dir", data, "delete", "ZEN01_Z-9_Z000009", "NOPE_X_Y"]) == 1
    assert "no device named NOPE_X_Y" in capsys.readouterr().err
    assert main(["devices", "--data-dir", data, "list"]) == 0
    assert "ZEN01" not in capsys.readouterr().out  # the known one was deleted all the same
