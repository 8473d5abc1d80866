"""The cluster's device registry: devices and auth codes in JetStream KV buckets, so that a
terminal registered through one node authenticates on any other (``--auth local`` in cluster
mode).

It keeps the embedded registry's rules and interface (``gateway.registry.DeviceRegistry``, which
the auth backend and DeviceRegistryService call from worker threads): each method runs its KV
calls on the event loop that holds the NATS connection and waits for them. Only a SHA-256 digest
of a code is stored, as in the embedded registry.

Buckets: ``jt808_devices`` (key ``d.<base64url of the device key>``, JSON device with the phone
its current code is bound to), ``jt808_credentials`` (key: the phone without leading zeros,
JSON with the device key, the digest and the plate the code was issued for) and
``jt808_vehicles`` (key ``v.<base64url of the plate>``: which code holds the vehicle). Writes
are not one transaction: a registration writes the new code before it unbinds the old one, so
a crash between leaves at most a stale code for a phone the device no longer uses, which the
next registration replaces.

The vehicle rule (a plate another device holds a code for gets result 1) must hold when two
nodes register one plate at once, so a vehicle is claimed with a create-only key (or a
compare-and-set of a claim that holds nothing any more) before the code is written. A claim
holds its vehicle while the code it names exists, or, for ``CLAIM_GRACE`` seconds, while that
code may still be on its way (a registration in flight); a claim left by a node that died
between the two writes therefore frees itself.
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
from gateway.registry import AUTH_CODE_BYTES, Device, DeviceRegistry, _is_text

from .directory import directory_key

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

    from .connection import NatsLink

DEVICES_BUCKET: Final = "jt808_devices"
CREDENTIALS_BUCKET: Final = "jt808_credentials"
VEHICLES_BUCKET: Final = "jt808_vehicles"
#: Seconds one registry operation may wait for NATS.
OPERATION_TIMEOUT: Final = 5.0
#: Seconds a vehicle claim without its code still holds the vehicle: longer than a registration
#: may take (``OPERATION_TIMEOUT``), with room for the nodes' clocks to differ.
CLAIM_GRACE: Final = 4 * OPERATION_TIMEOUT
#: Compare-and-set attempts for one vehicle claim before the registration gives up (result 1).
CLAIM_ATTEMPTS: Final = 4
T = TypeVar("T")
DeviceKey = tuple[str, str, str]


def device_kv_key(key: DeviceKey) -> str:
    raw = json.dumps(list(key), ensure_ascii=False, separators=(",", ":")).encode()
    return "d." + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def vehicle_kv_key(plate: str) -> str:
    return "v." + base64.urlsafe_b64encode(plate.encode()).decode().rstrip("=")


def _plate_of(request: RegistrationRequest) -> str:
    """The plate a code is issued for ("" when none, or when it is not text: the wire may carry
    bytes that are not, as lone surrogates, and those hold no vehicle, as in SQLite)."""
    return request.plate if _is_text(request.plate) else ""


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
            await self._release_vehicle(json.loads(credential[0]))

    async def _holds_code(self, phone: str, key: DeviceKey) -> bool:
        """Whether device ``key`` holds the code of ``phone`` (the phone its record is bound to:
        a logout revokes the code without touching the device record)."""
        if not phone:
            return False
        credential = await self._get(CREDENTIALS_BUCKET, directory_key(phone))
        return credential is not None and tuple(json.loads(credential[0])["device"]) == key

    # ----------------------------------------------------------------------------------------
    # Vehicles: which code holds a plate

    async def _claim_vehicle(self, plate: str, key: DeviceKey, phone: str, digest: str) -> bool:
        """Claim ``plate`` for the code ``digest`` about to be issued to device ``key`` on
        ``phone``; False when another device's code holds it (result 1).

        A claim of this device or this phone is taken over: the code it names is the one this
        registration replaces (as SQLite skips credentials of the same phone or device)."""
        import nats.js.errors  # noqa: PLC0415  (cluster mode only)

        kv = await self._bucket(VEHICLES_BUCKET)
        kv_key = vehicle_kv_key(plate)
        claim = json.dumps(
            {"v": 1, "device": list(key), "phone": phone, "code_sha256": digest,
             "claimed_at": time.time()}
        ).encode()  # fmt: skip
        for _ in range(CLAIM_ATTEMPTS):
            try:
                await kv.create(kv_key, claim)
                return True
            except nats.js.errors.KeyWrongLastSequenceError:
                pass  # claimed: see by whom
            found = await self._get(VEHICLES_BUCKET, kv_key)
            if found is None:
                continue  # released meanwhile
            holder = json.loads(found[0])
            mine = tuple(holder["device"]) == key or holder["phone"] == phone
            if not mine and await self._claim_holds(holder):
                return False
            try:
                await kv.update(kv_key, claim, last=found[1])
                return True
            except nats.js.errors.KeyWrongLastSequenceError:
                continue  # another node changed it first: look again
        return False

    async def _claim_holds(self, holder: dict[str, Any]) -> bool:
        """Whether a vehicle claim still holds its vehicle: its code exists (for a device that
        exists), or it is young enough to belong to a registration in flight."""
        credential = await self._get(CREDENTIALS_BUCKET, holder["phone"])
        if (
            credential is not None
            and json.loads(credential[0])["code_sha256"] == (holder["code_sha256"])
        ):
            return (
                await self._get(DEVICES_BUCKET, device_kv_key(tuple(holder["device"]))) is not None
            )
        return time.time() - float(holder["claimed_at"]) < CLAIM_GRACE

    async def _release_vehicle(self, credential: dict[str, Any]) -> None:
        """Free the vehicle of a revoked code, unless a newer code holds it meanwhile."""
        import nats.js.errors  # noqa: PLC0415

        plate = credential.get("plate", "")
        if not plate:
            return
        kv_key = vehicle_kv_key(plate)
        found = await self._get(VEHICLES_BUCKET, kv_key)
        if found is None or json.loads(found[0])["code_sha256"] != credential["code_sha256"]:
            return
        try:
            await (await self._bucket(VEHICLES_BUCKET)).delete(kv_key, last=found[1])
        except nats.js.errors.APIError as error:
            if error.err_code not in (10071, 10164):  # wrong last sequence: claimed meanwhile
                raise

    # ----------------------------------------------------------------------------------------
    # Terminal side

    def register(
        self, request: RegistrationRequest, *, reregistration: str = "explicit"
    ) -> RegistrationDecision:
        """As the embedded registry: a device or phone that holds a code gets result 3 (no
        takeover by registration) unless ``reregistration="offline"`` and neither is online."""
        return self._run(self._register(request, reregistration))

    def reset(self, name_or_key: str | DeviceKey) -> bool:
        key = self._resolve(name_or_key)
        return False if key is None else self._run(self._reset(key))

    async def _reset(self, key: DeviceKey) -> bool:
        found = await self._get(DEVICES_BUCKET, device_kv_key(key))
        if found is None:
            return False
        device, bound = _device_of(found[0])
        if bound:
            await self._unbind_code(bound, key)
            await self._put(DEVICES_BUCKET, device_kv_key(key), _device_json(device, ""))
        return True

    async def _register(
        self, request: RegistrationRequest, reregistration: str
    ) -> RegistrationDecision:
        key = (request.manufacturer_id, request.terminal_model, request.terminal_id)
        if not _is_text(*key):  # no imported device has bytes that are not text
            return RegistrationDecision(RegisterResult.TERMINAL_NOT_FOUND)
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
        phone = directory_key(request.phone)
        replace = reregistration == "offline" and (
            request.phone_online_since is None and request.device_online_since is None
        )
        replaced = await self._get(CREDENTIALS_BUCKET, phone)
        if (replaced is not None or await self._holds_code(bound, key)) and not replace:
            return RegistrationDecision(
                RegisterResult.TERMINAL_ALREADY_REGISTERED, device_name=name
            )
        code = secrets.token_hex(AUTH_CODE_BYTES)
        plate = _plate_of(request)
        credential = {"v": 1, "device": list(key), "code_sha256": _digest(code),
                      "issued_at": time.time(), "plate": plate}  # fmt: skip
        if plate and not await self._claim_vehicle(plate, key, phone, _digest(code)):
            return RegistrationDecision(RegisterResult.VEHICLE_ALREADY_REGISTERED, device_name=name)
        await self._put(CREDENTIALS_BUCKET, phone, json.dumps(credential).encode())
        if replaced is not None:
            await self._release_vehicle(json.loads(replaced[0]))
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
        found = await self._get(CREDENTIALS_BUCKET, directory_key(phone))
        if found is None:
            return False
        await self._delete(CREDENTIALS_BUCKET, directory_key(phone))
        await self._release_vehicle(json.loads(found[0]))
        return True

    def device_name_for_phone(self, phone: str) -> str:
        found = self._run(self._get(CREDENTIALS_BUCKET, directory_key(phone)))
        return "" if found is None else device_name_of(*json.loads(found[0])["device"])
