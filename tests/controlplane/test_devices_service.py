"""DeviceRegistryService over a real SQLite registry: the `jt808 devices` rules through gRPC."""

from __future__ import annotations

import concurrent.futures
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import grpc.aio
import pytest

from controlplane.devices import DeviceRegistryServicer
from controlplane.server import stop_off_the_loop
from gateway.auth.base import AuthenticationRequest, RegistrationRequest
from gateway.protocol.bodies.registration import RegisterResult
from gateway.registry import DeviceRegistry
from jt808.gateway.v1 import device_registry_service_pb2 as pb
from jt808.gateway.v1 import device_registry_service_pb2_grpc
from tests.timeouts import HANG_GUARD

from .grpc_testing_support import ServicerHarness, UnaryOutcome

SERVICE = pb.DESCRIPTOR.services_by_name["DeviceRegistryService"]
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
PINNED = pb.Device(
    manufacturer_id="70111",
    terminal_model="TK-900",
    terminal_id="A000001",
    phone="013912345678",
    plate="粤B12345",
    plate_color=2,
)
UNPINNED = pb.Device(manufacturer_id="70111", terminal_model="TK-900", terminal_id="A000002")
CSV = (
    "manufacturer_id,terminal_model,terminal_id,phone,plate,plate_color\n"
    "80222,M1,C1,,,\n"
    "80222,M1,C2,13800000000,京A00001,0\n"
)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[DeviceRegistry]:
    with DeviceRegistry(tmp_path) as opened:
        yield opened


@pytest.fixture
def service(registry: DeviceRegistry) -> ServicerHarness:
    return ServicerHarness(SERVICE, DeviceRegistryServicer(registry, "local"))


def import_devices(service: ServicerHarness, *devices: pb.Device, csv: str = "") -> UnaryOutcome:
    return service.unary("ImportDevices", pb.ImportDevicesRequest(devices=devices, csv=csv))


def listed(service: ServicerHarness) -> list[pb.Device]:
    outcome = service.unary("ListDevices", pb.ListDevicesRequest())
    assert outcome.code is grpc.StatusCode.OK
    return list(outcome.response.devices)


def names(service: ServicerHarness) -> list[str]:
    return [device.name for device in listed(service)]


def test_imported_devices_are_listed_with_names_and_pins(service: ServicerHarness) -> None:
    outcome = import_devices(service, PINNED, UNPINNED)

    assert outcome.code is grpc.StatusCode.OK
    assert outcome.response.imported == 2
    pinned, unpinned = listed(service)
    expected = pb.Device(name="70111_TK-900_A000001")
    expected.MergeFrom(PINNED)
    assert pinned == expected
    assert pinned.phone == "013912345678"  # leading zero kept, as imported
    assert pinned.HasField("plate_color")
    assert unpinned.name == "70111_TK-900_A000002"
    assert not unpinned.HasField("plate_color")
    assert (unpinned.phone, unpinned.plate) == ("", "")


def test_plate_color_zero_is_a_pin(service: ServicerHarness) -> None:
    device = pb.Device(manufacturer_id="m", terminal_model="t", terminal_id="1", plate_color=0)

    import_devices(service, device)

    (stored,) = listed(service)
    assert stored.HasField("plate_color")
    assert stored.plate_color == 0


def test_reimport_updates_pins(service: ServicerHarness, registry: DeviceRegistry) -> None:
    import_devices(service, PINNED)
    changed = pb.Device(
        manufacturer_id=PINNED.manufacturer_id,
        terminal_model=PINNED.terminal_model,
        terminal_id=PINNED.terminal_id,
        plate="粤B99999",
    )

    outcome = import_devices(service, changed)

    assert outcome.response.imported == 1
    (stored,) = listed(service)
    assert (stored.phone, stored.plate, stored.HasField("plate_color")) == ("", "粤B99999", False)


def test_values_are_stripped_and_the_name_field_ignored(service: ServicerHarness) -> None:
    padded = pb.Device(
        name="ignored",
        manufacturer_id=" m ",
        terminal_model="t\t",
        terminal_id=" 1",
        phone=" 123 ",
        plate=" P ",
    )

    import_devices(service, padded)

    (stored,) = listed(service)
    assert (stored.name, stored.phone, stored.plate) == ("m_t_1", "123", "P")


@pytest.mark.parametrize(
    ("change", "details"),
    [
        ({"manufacturer_id": ""}, "devices[2].manufacturer_id is empty"),
        ({"terminal_model": "  "}, "devices[2].terminal_model is empty"),
        ({"terminal_id": ""}, "devices[2].terminal_id is empty"),
        ({"phone": "1390-1234"}, "devices[2].phone '1390-1234' is not digits"),
        ({"phone": "１３９"}, "devices[2].phone '１３９' is not digits"),
        ({"phone": "1" * 21}, "devices[2].phone has 21 digits; at most 20"),
        ({"plate_color": 256}, "devices[2].plate_color 256 is outside 0..255"),
    ],
)
def test_one_invalid_device_fails_the_whole_import(
    service: ServicerHarness, change: dict[str, object], details: str
) -> None:
    invalid = pb.Device(manufacturer_id="m", terminal_model="t", terminal_id="9")
    for field, value in change.items():
        setattr(invalid, field, value)

    outcome = import_devices(service, PINNED, UNPINNED, invalid, csv=CSV)

    assert (outcome.code, outcome.details) == (INVALID_ARGUMENT, details)
    assert names(service) == []


def test_phone_of_twenty_digits_is_accepted(service: ServicerHarness) -> None:
    device = pb.Device(manufacturer_id="m", terminal_model="t", terminal_id="1", phone="0" * 20)

    assert import_devices(service, device).code is grpc.StatusCode.OK


def test_csv_is_imported_with_the_devices(service: ServicerHarness) -> None:
    outcome = import_devices(service, PINNED, csv=CSV)

    assert outcome.response.imported == 3
    assert names(service) == ["70111_TK-900_A000001", "80222_M1_C1", "80222_M1_C2"]
    csv_device = listed(service)[2]
    assert (csv_device.phone, csv_device.plate, csv_device.plate_color) == (
        "13800000000",
        "京A00001",
        0,
    )
    assert not listed(service)[1].HasField("plate_color")


def test_csv_alone_with_a_byte_order_mark(service: ServicerHarness) -> None:
    outcome = import_devices(
        service, csv="\ufeffmanufacturer_id,terminal_model,terminal_id\nm,t,1\n"
    )

    assert outcome.response.imported == 1
    assert names(service) == ["m_t_1"]


@pytest.mark.parametrize(
    ("csv", "details"),
    [
        ("maker,terminal_model,terminal_id\n", "csv: line 1: unknown column(s) maker"),
        ("terminal_model,terminal_id\n", "csv: line 1: missing required column(s) manufacturer_id"),
        (CSV + "m,t,3,,,red\n", "csv: line 4: plate_color 'red' is not a number"),
        (CSV + "m,,3\n", "csv: line 4: terminal_model is empty"),
    ],
)
def test_bad_csv_fails_the_whole_import(service: ServicerHarness, csv: str, details: str) -> None:
    outcome = import_devices(service, PINNED, csv=csv)

    assert outcome.code is INVALID_ARGUMENT
    assert outcome.details.startswith(details)
    assert names(service) == []


def test_csv_phone_of_non_ascii_digits_is_refused(service: ServicerHarness) -> None:
    csv = "manufacturer_id,terminal_model,terminal_id,phone\nm,t,1,１３９\n"

    assert import_devices(service, csv=csv).code is INVALID_ARGUMENT


def test_empty_import_writes_nothing(service: ServicerHarness) -> None:
    outcome = import_devices(service)

    assert outcome.response.imported == 0
    assert names(service) == []


def test_delete_removes_the_device_and_revokes_its_code(
    service: ServicerHarness, registry: DeviceRegistry
) -> None:
    import_devices(service, PINNED, UNPINNED)
    registration = registry.register(registration_of(PINNED))
    assert registration.result is RegisterResult.SUCCESS
    code = registration.auth_code
    assert registry.authenticate(authentication(PINNED.phone, code)).accepted

    outcome = service.unary("DeleteDevice", pb.DeleteDeviceRequest(name="70111_TK-900_A000001"))

    assert outcome.code is grpc.StatusCode.OK
    assert names(service) == ["70111_TK-900_A000002"]
    assert not registry.authenticate(authentication(PINNED.phone, code)).accepted


def test_delete_of_an_absent_device_is_not_found(service: ServicerHarness) -> None:
    import_devices(service, UNPINNED)

    outcome = service.unary("DeleteDevice", pb.DeleteDeviceRequest(name="nobody_x_1"))

    assert (outcome.code, outcome.details) == (
        grpc.StatusCode.NOT_FOUND,
        "no device named nobody_x_1",
    )
    assert names(service) == ["70111_TK-900_A000002"]


def test_reset_revokes_the_code_and_keeps_the_device(
    service: ServicerHarness, registry: DeviceRegistry
) -> None:
    import_devices(service, PINNED, UNPINNED)
    code = registry.register(registration_of(PINNED)).auth_code
    again = registry.register(registration_of(PINNED))
    assert again.result is RegisterResult.TERMINAL_ALREADY_REGISTERED

    outcome = service.unary("ResetDevice", pb.ResetDeviceRequest(name="70111_TK-900_A000001"))

    assert outcome.code is grpc.StatusCode.OK
    assert names(service) == ["70111_TK-900_A000001", "70111_TK-900_A000002"]
    assert not registry.authenticate(authentication(PINNED.phone, code)).accepted
    assert registry.register(registration_of(PINNED)).result is RegisterResult.SUCCESS
    absent = service.unary("ResetDevice", pb.ResetDeviceRequest(name="nobody_x_1"))
    assert absent.code is grpc.StatusCode.NOT_FOUND


def test_delete_needs_a_name(service: ServicerHarness) -> None:
    outcome = service.unary("DeleteDevice", pb.DeleteDeviceRequest(name=" "))

    assert (outcome.code, outcome.details) == (INVALID_ARGUMENT, "name is empty")


@pytest.mark.parametrize(
    ("method", "request_message"),
    [
        ("ImportDevices", pb.ImportDevicesRequest(devices=[UNPINNED])),
        ("ListDevices", pb.ListDevicesRequest()),
        ("DeleteDevice", pb.DeleteDeviceRequest(name="70111_TK-900_A000002")),
    ],
)
def test_without_a_registry_every_method_fails_precondition(
    method: str, request_message: pb.ImportDevicesRequest
) -> None:
    service = ServicerHarness(SERVICE, DeviceRegistryServicer(None, "remote"))

    outcome = service.unary(method, request_message)

    assert outcome.code is grpc.StatusCode.FAILED_PRECONDITION
    assert outcome.details == (
        "the device registry is used only with --auth local; this gateway runs --auth remote"
    )


def registration_of(device: pb.Device) -> RegistrationRequest:
    return RegistrationRequest(
        phone=device.phone,
        province_id=44,
        city_id=300,
        manufacturer_id=device.manufacturer_id,
        terminal_model=device.terminal_model,
        terminal_id=device.terminal_id,
        plate_color=device.plate_color,
        plate=device.plate,
        protocol_version=2013,
        remote_address="127.0.0.1:40000",
    )


def authentication(phone: str, code: str) -> AuthenticationRequest:
    return AuthenticationRequest(
        phone=phone, auth_code=code, imei="", software_version="", remote_address="127.0.0.1:1"
    )


# ------------------------------------------------------------------------------------------------
# Over a real channel: sync handlers on the grpc.aio server's thread pool


@pytest.fixture
async def channel(registry: DeviceRegistry) -> AsyncIterator[grpc.aio.Channel]:
    pool = concurrent.futures.ThreadPoolExecutor(2)
    server = grpc.aio.server(migration_thread_pool=pool)
    device_registry_service_pb2_grpc.add_DeviceRegistryServiceServicer_to_server(
        DeviceRegistryServicer(registry, "local"), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as opened:
            yield opened
    finally:
        await server.stop(grace=None)
        # As the gateway does: a handler that has not returned yet may need this loop.
        await stop_off_the_loop(pool)


@pytest.mark.anyio
async def test_import_and_list_over_a_channel(channel: grpc.aio.Channel) -> None:
    stub = device_registry_service_pb2_grpc.DeviceRegistryServiceStub(channel)

    imported = await stub.ImportDevices(
        pb.ImportDevicesRequest(devices=[PINNED, UNPINNED]), timeout=5
    )
    listing = await stub.ListDevices(pb.ListDevicesRequest(), timeout=HANG_GUARD)

    assert imported.imported == 2
    assert [d.name for d in listing.devices] == ["70111_TK-900_A000001", "70111_TK-900_A000002"]
    assert listing.devices[0].phone == "013912345678"


@pytest.mark.anyio
async def test_errors_over_a_channel(channel: grpc.aio.Channel) -> None:
    stub = device_registry_service_pb2_grpc.DeviceRegistryServiceStub(channel)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.DeleteDevice(pb.DeleteDeviceRequest(name="nobody_x_1"), timeout=HANG_GUARD)

    assert raised.value.code() is grpc.StatusCode.NOT_FOUND
    assert raised.value.details() == "no device named nobody_x_1"


@pytest.mark.anyio
async def test_one_device_given_twice_counts_once_and_the_last_wins(
    channel: grpc.aio.Channel,
) -> None:
    stub = device_registry_service_pb2_grpc.DeviceRegistryServiceStub(channel)
    again = pb.Device()
    again.CopyFrom(PINNED)
    again.plate = "B00001"

    imported = await stub.ImportDevices(
        pb.ImportDevicesRequest(devices=[PINNED, again]), timeout=HANG_GUARD
    )
    listing = await stub.ListDevices(pb.ListDevicesRequest(), timeout=HANG_GUARD)

    assert imported.imported == 1
    assert [(d.name, d.plate) for d in listing.devices] == [("70111_TK-900_A000001", "B00001")]


@pytest.mark.anyio
async def test_a_long_unknown_name_is_not_repeated_whole(channel: grpc.aio.Channel) -> None:
    stub = device_registry_service_pb2_grpc.DeviceRegistryServiceStub(channel)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.DeleteDevice(pb.DeleteDeviceRequest(name="x" * 70_000), timeout=HANG_GUARD)

    assert raised.value.code() is grpc.StatusCode.NOT_FOUND
    assert len(raised.value.details() or "") < 100
