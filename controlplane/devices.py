"""gRPC ``DeviceRegistryService``: the ``jt808 devices`` command over the control plane.

Same data and rules as the CLI (``clients/devices_command.py``): devices from messages and/or
CSV text (parsed by ``gateway.registry.parse_csv``), added or updated in one transaction, listed
with their names, deleted by name (which revokes their auth codes).

The handlers are synchronous because the registry is synchronous SQLite; the ``grpc.aio`` server
runs them in its ``migration_thread_pool``. ``DeviceRegistry`` serialises access with its own lock.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Final, TypeVar

import grpc

from gateway.protocol.errors import shown
from gateway.registry import (
    Device,
    DeviceImportError,
    DeviceRegistry,
    RegistryUnavailableError,
    checked_device,
    parse_csv,
)
from jt808.gateway.v1 import device_registry_service_pb2 as pb
from jt808.gateway.v1 import device_registry_service_pb2_grpc

#: BCD[10] in the 2019 header: the longest phone a registration can present.
MAX_PHONE_DIGITS: Final = 20
_UTF8_BOM: Final = "\ufeff"
T = TypeVar("T")


class InvalidDeviceError(ValueError):
    """A device of an import request is unusable; the message names it and the field."""


def device_from_message(message: pb.Device, index: int) -> Device:
    """The registry device of ``devices[index]``, checked by the CSV import's own rules, plus
    the phone length a registration can present."""
    where = f"devices[{index}]."
    try:
        device = checked_device(
            where,
            manufacturer_id=message.manufacturer_id,
            terminal_model=message.terminal_model,
            terminal_id=message.terminal_id,
            phone=message.phone,
            plate=message.plate,
            plate_color=message.plate_color if message.HasField("plate_color") else None,
        )
    except DeviceImportError as error:
        raise InvalidDeviceError(str(error)) from None
    if len(device.phone) > MAX_PHONE_DIGITS:
        raise InvalidDeviceError(
            f"{where}phone has {len(device.phone)} digits; at most {MAX_PHONE_DIGITS}"
        )
    return device


def devices_of(request: pb.ImportDevicesRequest) -> list[Device]:
    """Every device of the request, messages first, then CSV rows; raises on the first invalid
    one (``InvalidDeviceError`` or ``DeviceImportError``) so that nothing is written."""
    devices = [device_from_message(message, i) for i, message in enumerate(request.devices)]
    if request.csv:
        # The CLI reads files as utf-8-sig; a pasted file may still start with the BOM.
        text = request.csv.removeprefix(_UTF8_BOM)
        devices.extend(parse_csv(io.StringIO(text, newline="")))
    return devices


def device_message(device: Device) -> pb.Device:
    message = pb.Device(
        name=device.name,
        manufacturer_id=device.manufacturer_id,
        terminal_model=device.terminal_model,
        terminal_id=device.terminal_id,
        phone=device.phone,
        plate=device.plate,
    )
    if device.plate_color is not None:
        message.plate_color = device.plate_color
    return message


class DeviceRegistryServicer(device_registry_service_pb2_grpc.DeviceRegistryServiceServicer):
    """The local device registry, or ``None`` when the gateway authenticates remotely (then
    every method fails with FAILED_PRECONDITION)."""

    def __init__(self, registry: DeviceRegistry | None, auth_mode: str) -> None:
        self._registry = registry
        self._auth_mode = auth_mode

    def ImportDevices(
        self, request: pb.ImportDevicesRequest, context: grpc.ServicerContext
    ) -> pb.ImportDevicesResponse:
        registry = self._registry_or_abort(context)
        try:
            devices = devices_of(request)
        except InvalidDeviceError as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        except DeviceImportError as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"csv: {error}")
        return pb.ImportDevicesResponse(imported=_served(context, registry.upsert, devices))

    def ListDevices(
        self, request: pb.ListDevicesRequest, context: grpc.ServicerContext
    ) -> pb.ListDevicesResponse:
        registry = self._registry_or_abort(context)
        devices = _served(context, registry.devices)
        return pb.ListDevicesResponse(devices=[device_message(d) for d in devices])

    def DeleteDevice(
        self, request: pb.DeleteDeviceRequest, context: grpc.ServicerContext
    ) -> pb.DeleteDeviceResponse:
        self._act(self._registry_or_abort(context).delete, request.name, context)
        return pb.DeleteDeviceResponse()

    def ResetDevice(
        self, request: pb.ResetDeviceRequest, context: grpc.ServicerContext
    ) -> pb.ResetDeviceResponse:
        self._act(self._registry_or_abort(context).reset, request.name, context)
        return pb.ResetDeviceResponse()

    def _act(self, act: Callable[[str], bool], name: str, context: grpc.ServicerContext) -> None:
        """``act`` on the device ``name``: INVALID_ARGUMENT when empty, NOT_FOUND when absent."""
        name = name.strip()
        if not name:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "name is empty")
        if not _served(context, act, name):
            context.abort(grpc.StatusCode.NOT_FOUND, f"no device named {shown(name, quoted=False)}")

    def _registry_or_abort(self, context: grpc.ServicerContext) -> DeviceRegistry:
        if self._registry is None:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                "the device registry is used only with --auth local; "
                f"this gateway runs --auth {self._auth_mode}",
            )
        return self._registry


def _served(context: grpc.ServicerContext, call: Callable[..., T], *args: object) -> T:
    """``call(*args)`` on the registry; UNAVAILABLE when its data dir cannot serve it now (full,
    read-only, failing: nothing was written, and the same call can be tried again later)."""
    try:
        return call(*args)
    except RegistryUnavailableError as error:
        context.abort(
            grpc.StatusCode.UNAVAILABLE, f"the device registry cannot serve this now: {error}"
        )
