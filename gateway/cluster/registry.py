"""The cluster's device registry: devices and auth codes in JetStream KV buckets, so that a
terminal registered through one node authenticates on any other (``--auth local`` in cluster
mode).

It keeps the embedded registry's rules and interface (``gateway.registry.DeviceRegistry``, which
the auth backend and DeviceRegistryService call from worker threads): each method runs its KV
calls on the event loop that holds the NATS connection and waits for them. Only a SHA-256 digest
of a code is stored, as in the embedded registry.

Buckets: ``jt808_devices`` (key ``d.<base64url of the device key>``, JSON device with the phone
its current code is bound to) and ``jt808_credentials`` (key: the phone without leading zeros,
JSON with the device key and the digest). Writes are not one transaction: a registration writes
the new code before it unbinds the old one, so a crash between leaves at most a stale code for
a phone the device no longer uses, which the next registration replaces.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Coroutine, Iterable
from typing import TYPE_CHECKING, Any, Final, TypeVar

from gateway.auth.base import (
    AuthBackendUnavailableError,
    AuthenticationDecision,
    AuthenticationRequest,
    RegistrationDecision,
    RegistrationRequest,
    device_name_of,
)
from gateway.protocol.bodies.registration import RegisterResult
from gateway.protocol.header import phone_key
from gateway.registry import AUTH_CODE_BYTES, Device, DeviceRegistry

from .directory import directory_key

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

    from .connection import NatsLink

DEVICES_BUCKET: Final = "jt808_devices"
CREDENTIALS_BUCKET: Final = "jt808_credentials"
#: Seconds one registry operation may wait for NATS.
OPERATION_TIMEOUT: Final = 5.0
T = TypeVar("T")
DeviceKey = tuple[str, str, str]


def device_kv_key(key: DeviceKey) -> str:
    raw = json.dumps(list(key), ensure_ascii=False, separators=(",", ":")).encode()
    return "d." + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def _device_json(device: Device, bound_phone: str = "") -> bytes:
    record = {
        "v": 1,
        "manufacturer_id": device.manufacturer_id,
        "terminal_model": device.terminal_model,
        "terminal_id": device.terminal_id,
        "phone": device.phone,
        "plate": device.plate,
        "plate_color": device.plate_color,
        "bound_phone": bound_phone,
    }
    return json.dumps(record, ensure_ascii=False).encode()


def _device_of(data: bytes) -> tuple[Device, str]:
    record = json.loads(data)
    device = Device(
        record["manufacturer_id"],
        record["terminal_model"],
        record["terminal_id"],
        record.get("phone", ""),
        record.get("plate", ""),
        record.get("plate_color"),
    )
    return device, record.get("bound_phone", "")


class ClusterDeviceRegistry(DeviceRegistry):
    """``DeviceRegistry`` on the cluster's KV buckets (no SQLite file)."""

    def __init__(self, link: NatsLink) -> None:  # no super().__init__: nothing local to open
        self.link = link
        self._buckets: dict[str, KeyValue] = {}

    def close(self) -> None:
        pass  # the node closes the NATS link

    # ----------------------------------------------------------------------------------------
    # From a worker thread to the loop of the NATS connection

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        loop = self.link.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            work.close()
            raise RuntimeError("the cluster registry is called from worker threads only")
        import nats.errors  # noqa: PLC0415  (cluster mode only)

        future = asyncio.run_coroutine_threadsafe(work, loop)
        try:
            return future.result(OPERATION_TIMEOUT)
        except TimeoutError:
            future.cancel()
            raise AuthBackendUnavailableError(
                "the cluster's device registry (NATS) did not answer in time"
            ) from None
        except (nats.errors.Error, OSError) as error:
            raise AuthBackendUnavailableError(
                f"the cluster's device registry (NATS) failed: {error or type(error).__name__}"
            ) from None

    async def _bucket(self, name: str) -> KeyValue:
        bucket = self._buckets.get(name)
        if bucket is None:
            from .node import open_bucket  # noqa: PLC0415  (node imports this module's users)

            bucket = self._buckets[name] = await open_bucket(self.link, name, None)
        return bucket

    async def _get(self, bucket: str, key: str) -> tuple[bytes, int] | None:
        import nats.js.errors  # noqa: PLC0415  (cluster mode only)

        kv = await self._bucket(bucket)
        try:
            entry = await kv.get(key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None
        return (entry.value or b"", entry.revision or 0) if entry.value else None

    async def _delete(self, bucket: str, key: str) -> None:
        await (await self._bucket(bucket)).delete(key)

    async def _put(self, bucket: str, key: str, value: bytes) -> None:
        await (await self._bucket(bucket)).put(key, value)

    # ----------------------------------------------------------------------------------------
    # Operator side

    def upsert(self, devices: Iterable[Device]) -> int:
        latest = {device.key: device for device in devices}
        return self._run(self._upsert(list(latest.values())))

    async def _upsert(self, devices: list[Device]) -> int:
        for device in devices:
            key = device_kv_key(device.key)
            found = await self._get(DEVICES_BUCKET, key)
            bound = _device_of(found[0])[1] if found is not None else ""
            await self._put(DEVICES_BUCKET, key, _device_json(device, bound))
        return len(devices)

    def devices(self) -> list[Device]:
        return self._run(self._devices())

    async def _devices(self) -> list[Device]:
        import nats.js.errors  # noqa: PLC0415

        kv = await self._bucket(DEVICES_BUCKET)
        try:
            keys = await kv.keys()
        except nats.js.errors.NoKeysError:
            return []
        found: list[Device] = []
        for key in keys:
            entry = await self._get(DEVICES_BUCKET, key)
            if entry is not None:
                found.append(_device_of(entry[0])[0])
        return sorted(found, key=lambda d: d.key)

    def delete(self, name_or_key: str | DeviceKey) -> bool:
        key = self._resolve(name_or_key)
        return False if key is None else self._run(self._delete_device(key))

    async def _delete_device(self, key: DeviceKey) -> bool:
        kv_key = device_kv_key(key)
        found = await self._get(DEVICES_BUCKET, kv_key)
        if found is None:
            return False
        bound = _device_of(found[0])[1]
        await self._delete(DEVICES_BUCKET, kv_key)
        if bound:
            await self._unbind_code(bound, key)
        return True

    async def _unbind_code(self, phone: str, key: DeviceKey) -> None:
        """Revoke the code of ``phone`` if it belongs to device ``key``."""
        credential = await self._get(CREDENTIALS_BUCKET, directory_key(phone))
        if credential is not None and tuple(json.loads(credential[0])["device"]) == key:
            await self._delete(CREDENTIALS_BUCKET, directory_key(phone))

    # ----------------------------------------------------------------------------------------
    # Terminal side

    def register(self, request: RegistrationRequest) -> RegistrationDecision:
        return self._run(self._register(request))

    async def _register(self, request: RegistrationRequest) -> RegistrationDecision:
        key = (request.manufacturer_id, request.terminal_model, request.terminal_id)
        name = device_name_of(*key)
        found = await self._get(DEVICES_BUCKET, device_kv_key(key))
        if found is None:
            return RegistrationDecision(RegisterResult.TERMINAL_NOT_FOUND, device_name=name)
        device, bound = _device_of(found[0])
        if device.phone and phone_key(device.phone) != phone_key(request.phone):
            return RegistrationDecision(
                RegisterResult.TERMINAL_ALREADY_REGISTERED, device_name=name
            )
        if device.plate and device.plate != request.plate:
            return RegistrationDecision(RegisterResult.VEHICLE_NOT_FOUND, device_name=name)
        code = secrets.token_hex(AUTH_CODE_BYTES)
        phone = directory_key(request.phone)
        credential = {"v": 1, "device": list(key), "code_sha256": _digest(code),
                      "issued_at": time.time()}  # fmt: skip
        await self._put(CREDENTIALS_BUCKET, phone, json.dumps(credential).encode())
        if bound and directory_key(bound) != phone:
            await self._unbind_code(bound, key)
        await self._put(DEVICES_BUCKET, device_kv_key(key), _device_json(device, phone))
        return RegistrationDecision(RegisterResult.SUCCESS, auth_code=code, device_name=name)

    def authenticate(self, request: AuthenticationRequest) -> AuthenticationDecision:
        return self._run(self._authenticate(request))

    async def _authenticate(self, request: AuthenticationRequest) -> AuthenticationDecision:
        found = await self._get(CREDENTIALS_BUCKET, directory_key(request.phone))
        if found is None:
            return AuthenticationDecision(False)
        credential = json.loads(found[0])
        if not hmac.compare_digest(credential["code_sha256"], _digest(request.auth_code)):
            return AuthenticationDecision(False)
        key = tuple(credential["device"])
        if await self._get(DEVICES_BUCKET, device_kv_key(key)) is None:  # device deleted
            return AuthenticationDecision(False)
        return AuthenticationDecision(True, device_name_of(*key))

    def logout(self, phone: str) -> bool:
        return self._run(self._logout(phone))

    async def _logout(self, phone: str) -> bool:
        if await self._get(CREDENTIALS_BUCKET, directory_key(phone)) is None:
            return False
        await self._delete(CREDENTIALS_BUCKET, directory_key(phone))
        return True

    def device_name_for_phone(self, phone: str) -> str:
        found = self._run(self._get(CREDENTIALS_BUCKET, directory_key(phone)))
        return "" if found is None else device_name_of(*json.loads(found[0])["device"])
