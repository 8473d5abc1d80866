"""The embedded device registry: CSV import, issued auth codes (hashed, compared in constant
time), authentication, logout and deletion."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import io
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.auth.base import AuthenticationRequest, RegistrationRequest
from gateway.protocol.bodies.registration import RegisterResult
from gateway.protocol.header import phone_key
from gateway.registry import (
    DATABASE_NAME,
    Device,
    DeviceImportError,
    DeviceRegistry,
    parse_csv,
)

PHONE = "013912345678"
UNPINNED = Device("ACME1", "TK-1", "T000001")
PINNED = Device("ACME1", "TK-1", "T000002", phone="13800000000", plate="粤B12345", plate_color=1)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[DeviceRegistry]:
    with DeviceRegistry(tmp_path) as opened:
        opened.upsert([UNPINNED, PINNED])
        yield opened


def registration(
    device: Device = UNPINNED, phone: str = PHONE, plate: str = ""
) -> RegistrationRequest:
    return RegistrationRequest(
        phone=phone, province_id=44, city_id=300, manufacturer_id=device.manufacturer_id,
        terminal_model=device.terminal_model, terminal_id=device.terminal_id, plate_color=1,
        plate=plate, protocol_version=2013, remote_address="127.0.0.1:1",
    )  # fmt: skip


def authentication(code: str, phone: str = PHONE) -> AuthenticationRequest:
    return AuthenticationRequest(
        phone=phone, auth_code=code, imei="", software_version="", remote_address="127.0.0.1:1"
    )


def issue(registry: DeviceRegistry, device: Device = UNPINNED, phone: str = PHONE) -> str:
    decision = registry.register(registration(device, phone, device.plate))
    assert decision.result == RegisterResult.SUCCESS, decision
    return decision.auth_code


def credentials(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path / DATABASE_NAME) as db:
        return db.execute("SELECT * FROM credentials").fetchall()


# --------------------------------------------------------------------------------------------
# CSV


def csv(text: str) -> list[Device]:
    return list(parse_csv(io.StringIO(text)))


def test_csv_with_required_and_optional_columns_in_any_order() -> None:
    text = "terminal_id,manufacturer_id,terminal_model,plate_color,plate,phone\n" + (
        "T1, ACME1 ,TK-1,2,B99999,13800000000\nT2,ACME1,TK-1,,,\n"
    )
    assert csv(text) == [
        Device("ACME1", "TK-1", "T1", "13800000000", "B99999", 2),
        Device("ACME1", "TK-1", "T2"),
    ]


REQUIRED = "manufacturer_id,terminal_model,terminal_id"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"{REQUIRED},colour\n", "line 1: unknown column"),
        ("manufacturer_id,terminal_model\nA,B\n", "line 1: missing required column.*terminal_id"),
        (f"{REQUIRED}\nA,B,C\nA,,C\n", "line 3: terminal_model is empty"),
        (f"{REQUIRED}\nA,B\n", "line 2: terminal_id is empty"),
        (f"{REQUIRED},phone\nA,B,C,138-0000\n", "line 2: phone '138-0000' is not digits"),
        (f"{REQUIRED},plate_color\nA,B,C,red\n", "line 2: plate_color 'red' is not a number"),
        (f"{REQUIRED},plate_color\nA,B,C,256\n", "line 2: plate_color 256 is outside 0..255"),
    ],
)
def test_csv_errors_name_the_line_and_the_column(text: str, message: str) -> None:
    with pytest.raises(DeviceImportError, match=message):
        csv(text)


def test_csv_row_with_more_fields_than_the_header_is_refused() -> None:
    with pytest.raises(DeviceImportError, match="line 2"):
        csv("manufacturer_id,terminal_model,terminal_id,plate\nACME1,TK-1,T1,B,12345\n")


def test_bad_csv_imports_nothing(registry: DeviceRegistry) -> None:
    text = "manufacturer_id,terminal_model,terminal_id\nNEW,M,1\nNEW,,2\n"
    with pytest.raises(DeviceImportError):
        registry.import_csv(io.StringIO(text))
    assert [d.manufacturer_id for d in registry.devices()] == ["ACME1", "ACME1"]


# --------------------------------------------------------------------------------------------
# Registration and authentication


def test_known_device_gets_a_random_code_that_authenticates(registry: DeviceRegistry) -> None:
    code = issue(registry)
    assert len(code) == 32  # 128 random bits
    accepted = registry.authenticate(authentication(code))
    assert (accepted.accepted, accepted.device_name) == (True, "ACME1_TK-1_T000001")
    assert registry.logout(PHONE)
    fresh = issue(registry)  # after the logout: a fresh code, and the first one is gone
    assert fresh != code
    assert not registry.authenticate(authentication(code)).accepted
    assert registry.authenticate(authentication(fresh)).accepted


def test_a_registered_device_is_not_registered_again_until_reset(
    registry: DeviceRegistry,
) -> None:
    code = issue(registry)
    for phone in (PHONE, "013999999999"):  # the same phone, or another one
        again = registry.register(registration(phone=phone))
        assert (again.result, again.auth_code) == (RegisterResult.TERMINAL_ALREADY_REGISTERED, "")
    assert registry.authenticate(authentication(code)).accepted  # nothing was revoked
    assert registry.reset(UNPINNED.name)
    assert not registry.authenticate(authentication(code)).accepted
    assert issue(registry, phone="013999999999")


def test_the_offline_policy_replaces_a_code_only_when_nobody_is_online(
    registry: DeviceRegistry,
) -> None:
    code = issue(registry)
    online = dataclasses.replace(
        registration(), device_online_since=datetime.now(UTC), device_online_phone=PHONE
    )
    refused = registry.register(online, reregistration="offline")
    assert refused.result == RegisterResult.TERMINAL_ALREADY_REGISTERED
    replaced = registry.register(registration(), reregistration="offline")
    assert replaced.result == RegisterResult.SUCCESS
    assert not registry.authenticate(authentication(code)).accepted


def test_a_registry_made_before_credentials_kept_plates_is_upgraded(tmp_path: Path) -> None:
    data_dir = tmp_path / "old"
    data_dir.mkdir()
    with sqlite3.connect(data_dir / DATABASE_NAME) as db:
        db.executescript(
            "CREATE TABLE credentials (phone TEXT PRIMARY KEY, manufacturer_id TEXT NOT NULL, "
            "terminal_model TEXT NOT NULL, terminal_id TEXT NOT NULL, code_sha256 BLOB NOT NULL, "
            "issued_at REAL NOT NULL)"
        )
    with DeviceRegistry(data_dir) as registry:
        registry.upsert([UNPINNED])
        assert issue(registry)


def test_unknown_device_is_not_found(registry: DeviceRegistry) -> None:
    unknown = Device("ACME1", "TK-1", "T999999")
    decision = registry.register(registration(unknown))
    assert (decision.result, decision.auth_code) == (RegisterResult.TERMINAL_NOT_FOUND, "")


def test_pinned_phone_and_plate_are_enforced(registry: DeviceRegistry) -> None:
    other_phone = registry.register(registration(PINNED, PHONE, PINNED.plate))
    assert other_phone.result == RegisterResult.TERMINAL_ALREADY_REGISTERED
    other_plate = registry.register(registration(PINNED, "013800000000", "粤B00000"))
    assert other_plate.result == RegisterResult.VEHICLE_NOT_FOUND
    assert issue(registry, PINNED, "013800000000")  # same number, leading zero of BCD


def test_phones_are_compared_without_leading_zeros(registry: DeviceRegistry) -> None:
    code = issue(registry, phone="013912345678")
    assert registry.authenticate(authentication(code, phone="00000000013912345678")).accepted
    assert phone_key("000") == "0"


def test_wrong_code_and_unknown_phone_are_refused(registry: DeviceRegistry) -> None:
    code = issue(registry)
    assert not registry.authenticate(authentication(code.upper() + "x")).accepted
    assert not registry.authenticate(authentication(code, phone="013900000000")).accepted
    assert not registry.authenticate(authentication("")).accepted


def test_auth_code_is_stored_only_as_its_sha256(tmp_path: Path) -> None:
    with DeviceRegistry(tmp_path) as registry:
        registry.upsert([UNPINNED])
        code = issue(registry)
        stored = credentials(tmp_path)
    assert [row[4] for row in stored] == [hashlib.sha256(code.encode()).digest()]
    for path in tmp_path.iterdir():  # the database, and its WAL and shared-memory files
        content = path.read_bytes()
        assert code.encode() not in content, path.name
        assert code.upper().encode() not in content, path.name


def test_codes_are_compared_with_hmac_compare_digest(
    registry: DeviceRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # looked up at each call
    code = issue(registry)
    assert registry.authenticate(authentication(code)).accepted
    assert not registry.authenticate(authentication("wrong")).accepted
    digest = hashlib.sha256(code.encode()).digest()
    assert compared == [(digest, digest), (digest, hashlib.sha256(b"wrong").digest())]


def test_registration_decision_repr_hides_the_code(registry: DeviceRegistry) -> None:
    decision = registry.register(registration())
    assert decision.auth_code not in repr(decision)
    assert "secret" not in repr(authentication("secret"))


# --------------------------------------------------------------------------------------------
# Logout and deletion


def test_logout_revokes_the_code(registry: DeviceRegistry) -> None:
    code = issue(registry)
    assert registry.logout(PHONE)
    assert not registry.authenticate(authentication(code)).accepted
    assert registry.device_name_for_phone(PHONE) == ""
    assert not registry.logout(PHONE)  # nothing left to revoke


def test_deleting_a_device_deletes_its_credentials(tmp_path: Path) -> None:
    with DeviceRegistry(tmp_path) as registry:
        registry.upsert([UNPINNED, PINNED])
        code = issue(registry)
        pinned_code = issue(registry, PINNED, "13800000000")
        assert registry.device_name_for_phone(PHONE) == UNPINNED.name
        assert registry.delete(UNPINNED.name)
        assert not registry.delete(UNPINNED.name)
        assert not registry.authenticate(authentication(code)).accepted
        assert registry.device_name_for_phone(PHONE) == ""
        assert registry.get(UNPINNED.name) is None
        assert registry.authenticate(authentication(pinned_code, "13800000000")).accepted
        remaining = credentials(tmp_path)
    assert [row[0] for row in remaining] == ["13800000000"]


def test_devices_and_codes_persist_across_instances(tmp_path: Path) -> None:
    with DeviceRegistry(tmp_path) as registry:
        registry.upsert([UNPINNED])
        code = issue(registry)
    with DeviceRegistry(tmp_path) as reopened:
        assert reopened.devices() == [UNPINNED]
        assert reopened.authenticate(authentication(code)).accepted


def test_get_by_name_or_key(registry: DeviceRegistry) -> None:
    assert registry.get("ACME1_TK-1_T000002") == PINNED
    assert registry.get(("ACME1", "TK-1", "T000001")) == UNPINNED
    assert registry.get("nope") is None
