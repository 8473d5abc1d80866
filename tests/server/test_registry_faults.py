"""The device registry on a data dir that is full, read-only or failing: the gateway starts and
serves anyway, registered terminals still get in when the registry can be read, what needs a
write is refused with a clear reason, and everything works again by itself once the disk does.
Settings mistakes (a file where the data dir should be, a file that is no database) still stop
the start. Real faults: a small tmpfs the test fills or remounts read-only (``mounts``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import anyio
import grpc
import pytest

from clients.cli import main
from controlplane.devices import DeviceRegistryServicer
from gateway import registry as registry_module
from gateway.auth.base import AuthBackendUnavailableError
from gateway.auth.local import LocalAuthBackend
from gateway.protocol import V2013, ResultCode
from gateway.protocol.bodies.registration import RegisterResult
from gateway.registry import DATABASE_NAME, Device, DeviceRegistry, RegistryUnavailableError
from jt808.gateway.v1 import device_registry_service_pb2 as pb
from tests.controlplane.grpc_testing_support import ServicerHarness
from tests.server.test_devices_command import authentication, registration
from tests.timeouts import HANG_GUARD

from .harness import DEVICES, OTHER_IDENTITY, StartGateway, address_of
from .mounts import NOT_ROOT, fill, free, remount, tmpfs
from .terminal_client import TerminalClient

pytestmark = pytest.mark.anyio
needs_root = pytest.mark.skipif(NOT_ROOT, reason="mounting a tmpfs needs root")
SERVICE = pb.DESCRIPTOR.services_by_name["DeviceRegistryService"]
#: A second terminal's own phone (the first one's holds a code).
OTHER_PHONE = "013900000009"
CSV = "manufacturer_id,terminal_model,terminal_id\nACME1,TK-1,T000001\nACME1,TK-1,T000003\n"


@pytest.fixture(autouse=True)
def reopen_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # A registry without a writable connection tries again at most this often: at once here,
    # so that a test sees the recovery on its next call, not after a pause.
    monkeypatch.setattr(registry_module, "REOPEN_INTERVAL", 0.0)


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "mount", "1m") as mounted:
        yield mounted


def writes(registry: DeviceRegistry) -> bool:
    """``registry.writable``, read anew at each call (mypy would narrow the property)."""
    return registry.writable


def registered_code(data_dir: Path) -> str:
    """A registry under ``data_dir`` with ACME1_TK-1_T000001 known and registered (closed
    cleanly, as by a stopped gateway: its WAL is folded in); returns the auth code."""
    with DeviceRegistry(data_dir) as registry:
        registry.import_csv(CSV.splitlines(keepends=True))
        decision = registry.register(registration("T000001"))
    assert decision.result is RegisterResult.SUCCESS
    return decision.auth_code


# --------------------------------------------------------------------------------------------
# The registry itself


@needs_root
def test_a_full_disk_at_start_reads_the_registry_refuses_writes_and_recovers(mount: Path) -> None:
    data_dir = mount / "data"
    code = registered_code(data_dir)
    fill(mount)

    with pytest.raises(RegistryUnavailableError, match=r"shared-memory file") as strict:
        DeviceRegistry(data_dir)  # the `jt808 devices` command: one sentence, no start
    assert strict.value.passing

    with DeviceRegistry(data_dir, tolerant=True) as registry:
        assert not writes(registry)
        # Read from the database file alone: the registered terminal still gets in.
        assert registry.authenticate(authentication(code)).accepted
        assert not registry.authenticate(authentication("not-the-code")).accepted
        with pytest.raises(RegistryUnavailableError, match=r"^devices\.sqlite3: "):
            registry.register(registration("T000003", phone="013900000003"))

        free(mount)
        decision = registry.register(registration("T000003", phone="013900000003"))
        assert decision.result is RegisterResult.SUCCESS
        assert writes(registry)
        assert registry.authenticate(authentication(decision.auth_code, "013900000003")).accepted


@needs_root
def test_a_disk_that_fills_while_open_refuses_the_write_and_stores_nothing_of_it(
    mount: Path,
) -> None:
    data_dir = mount / "data"
    registered_code(data_dir)
    with DeviceRegistry(data_dir, tolerant=True) as registry:
        assert writes(registry)
        fill(mount)
        with pytest.raises(RegistryUnavailableError, match=r"full"):
            registry.upsert([Device("M", "X", "REFUSED")])  # its WAL frames find no room
        assert not writes(registry)
        before = registry.devices()  # reads still work
        free(mount)
        registry.import_csv(["manufacturer_id,terminal_model,terminal_id\n", "M,X,AFTER\n"])
        assert writes(registry)
        assert len(registry.devices()) == len(before) + 1


@needs_root
def test_a_read_only_data_dir_without_a_registry_has_none_until_it_is_writable(
    mount: Path,
) -> None:
    remount(mount, "ro")
    data_dir = mount / "data"  # cannot even be created
    with DeviceRegistry(data_dir, tolerant=True) as registry:
        with pytest.raises(RegistryUnavailableError, match=r"Read-only file system"):
            registry.authenticate(authentication("any"))
        remount(mount, "rw")
        assert registry.devices() == []
        assert writes(registry)


def test_the_read_only_copy_is_not_used_while_the_wal_holds_changes(tmp_path: Path) -> None:
    # Read alone, the database file would miss what the WAL holds (a revoked code among it).
    registered_code(tmp_path)
    with DeviceRegistry(tmp_path) as writer:
        holder = sqlite3.connect(tmp_path / DATABASE_NAME)  # keeps the WAL from being folded in
        holder.execute("SELECT 1 FROM devices").fetchall()
        assert writer.logout(registration("T000001").phone)
    path = tmp_path / DATABASE_NAME
    assert Path(f"{path}-wal").stat().st_size > 0
    assert registry_module._open_read_only(path) is None
    holder.close()


@pytest.mark.parametrize("tolerant", [False, True])
def test_settings_mistakes_still_stop_the_start(tmp_path: Path, *, tolerant: bool) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("", encoding="utf-8")
    with pytest.raises(RegistryUnavailableError, match=r"^it is a file, not a directory$") as got:
        DeviceRegistry(a_file, tolerant=tolerant)
    assert not got.value.passing

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / DATABASE_NAME).write_bytes(b"not a database" * 100)
    with pytest.raises(RegistryUnavailableError, match=r"is not an SQLite database$") as got:
        DeviceRegistry(tmp_path / "data", tolerant=tolerant)
    assert not got.value.passing


# --------------------------------------------------------------------------------------------
# Its users: the auth backend, the gRPC service, the command line


@needs_root
async def test_the_auth_backend_gives_no_decision_when_the_registry_cannot_write(
    mount: Path,
) -> None:
    data_dir = mount / "data"
    code = registered_code(data_dir)
    fill(mount)
    backend = LocalAuthBackend(DeviceRegistry(data_dir, tolerant=True))
    try:
        assert (await backend.authenticate(authentication(code))).accepted
        with pytest.raises(AuthBackendUnavailableError, match=r"^the device registry: "):
            await backend.register(registration("T000003", phone="013900000003"))
    finally:
        await backend.aclose()


@needs_root
def test_the_grpc_service_says_unavailable_on_a_full_disk_and_works_again(mount: Path) -> None:
    data_dir = mount / "data"
    registered_code(data_dir)
    with DeviceRegistry(data_dir, tolerant=True) as registry:
        service = ServicerHarness(SERVICE, DeviceRegistryServicer(registry, "local"))
        fill(mount)
        request = pb.ImportDevicesRequest(csv=CSV.replace("T000003", "T000004"))
        outcome = service.unary("ImportDevices", request)
        assert outcome.code is grpc.StatusCode.UNAVAILABLE
        assert outcome.details.startswith("the device registry cannot serve this now: ")
        assert service.unary("ListDevices", pb.ListDevicesRequest()).code is grpc.StatusCode.OK
        free(mount)
        assert service.unary("ImportDevices", request).code is grpc.StatusCode.OK


@needs_root
def test_the_devices_command_on_a_full_disk_says_so_in_one_sentence(
    mount: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = mount / "data"
    registered_code(data_dir)
    csv = mount / "devices.csv"
    csv.write_text(CSV, encoding="utf-8")
    fill(mount)

    assert main(["devices", "--data-dir", str(data_dir), "import", str(csv)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"jt808 devices import: cannot use the data directory {data_dir}: ")
    assert error.count("\n") == 1  # one sentence, no traceback


# --------------------------------------------------------------------------------------------
# The gateway


@needs_root
async def test_a_gateway_on_a_full_disk_starts_lets_registered_terminals_in_and_recovers(
    start_gateway: StartGateway, mount: Path
) -> None:
    data_dir = mount / "data"
    with DeviceRegistry(data_dir) as registry:
        registry.upsert(DEVICES)
    async with (
        start_gateway(data_dir=data_dir, durability="memory") as gateway,
        TerminalClient.connect(address_of(gateway), V2013) as terminal,
    ):
        code = await terminal.log_in()
    fill(mount)

    # Acknowledgements need no disk with --durability memory: only the registry is degraded.
    async with start_gateway(data_dir=data_dir, durability="memory") as gateway:
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            assert await terminal.authenticate(code) is ResultCode.SUCCESS
        async with TerminalClient.connect(address_of(gateway), V2013, phone=OTHER_PHONE) as other:
            refused = await other.register(**OTHER_IDENTITY)  # no code can be issued now
            assert refused.result is not RegisterResult.SUCCESS
            assert not refused.auth_code
            free(mount)
            with anyio.fail_after(HANG_GUARD):  # the terminal tries again, as devices do
                assert await other.log_in(**OTHER_IDENTITY)


@needs_root
async def test_a_gateway_on_a_read_only_data_dir_starts_and_works_once_it_is_writable(
    start_gateway: StartGateway, mount: Path
) -> None:
    data_dir = mount / "data"
    registered_code(data_dir)
    remount(mount, "ro")
    async with start_gateway(data_dir=data_dir) as gateway:  # --auth local, --durability fsync
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            refused = await terminal.register(terminal_id="T000003")  # no code can be issued
            assert refused.result is not RegisterResult.SUCCESS
        remount(mount, "rw")
        with anyio.fail_after(HANG_GUARD):
            while not gateway.store.status().healthy:
                await anyio.sleep(0.05)
        async with TerminalClient.connect(
            address_of(gateway), V2013, phone=OTHER_PHONE
        ) as terminal:
            with anyio.fail_after(HANG_GUARD):
                await terminal.log_in(terminal_id="T000003")
