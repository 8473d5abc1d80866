"""An example verification service: jt808.auth.v1.DeviceAuthService in Python.

    python server.py --listen 127.0.0.1:50061 --devices devices.csv
    jt808 serve --auth remote --auth-endpoint 127.0.0.1:50061

The allow-list is a CSV in the format ``jt808 devices import`` reads (columns manufacturer_id,
terminal_model, terminal_id, and optionally phone, plate, plate_color). A listed terminal that
registers gets a random auth code bound to its phone; Authenticate accepts only that code from
that phone; Logout revokes it. Codes are kept in memory (a restart makes terminals register
again) and never logged. The contract is loaded from the repository's proto/ directory.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import secrets
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc

# The repository root: the project is importable from there, and proto/ lies there.
ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from gateway.protocol.header import phone_key
from gateway.registry import Device, DeviceImportError, parse_csv

log = logging.getLogger("auth-example")


CONTRACT = "jt808/auth/v1/auth.proto"


def load_contract() -> tuple[ModuleType, ModuleType, str]:
    """auth.proto's messages and service, compiled from ``proto/`` at start-up (grpcio-tools,
    part of the project's dev install). Without grpcio-tools: the project's code generated
    from the same file (``make proto``). The third item says which."""
    try:
        sys.path.append(str(ROOT / "proto"))
        messages, services = grpc.protos_and_services(CONTRACT)
    except (ImportError, NotImplementedError):
        from jt808.auth.v1 import auth_pb2, auth_pb2_grpc

        return auth_pb2, auth_pb2_grpc, "jt808.auth.v1 (generated)"
    return messages, services, f"proto/{CONTRACT}"


pb, pb_grpc, contract_source = load_contract()


@dataclass
class Registration:
    device: Device
    auth_code: str


class AllowListAuthService(pb_grpc.DeviceAuthServiceServicer):  # type: ignore[misc,name-defined]
    """Register/Authenticate/Logout against an allow-list, codes bound to phones."""

    def __init__(self, devices: list[Device], token: str | None = None) -> None:
        self.devices = {device.key: device for device in devices}
        self.registrations: dict[str, Registration] = {}  # phone (no leading zeros) -> code
        self.expected_authorization = f"Bearer {token}" if token else None

    async def Register(self, request: Any, context: Any) -> Any:
        await self._check_token(context)
        key = (request.manufacturer_id, request.terminal_model, request.terminal_id)
        device = self.devices.get(key)
        name = "_".join(key)
        if device is None:
            result = pb.REGISTER_RESULT_TERMINAL_NOT_FOUND
        elif device.phone and phone_key(device.phone) != phone_key(request.phone):
            result = pb.REGISTER_RESULT_TERMINAL_ALREADY_REGISTERED  # another SIM uses it
        elif device.plate and device.plate != request.plate:
            result = pb.REGISTER_RESULT_VEHICLE_NOT_FOUND
        else:
            phone = phone_key(request.phone)
            known = self.registrations.get(phone)
            # The gateway may retry a call: the same terminal gets the same code back.
            if known is None or known.device.key != key:
                known = Registration(device, secrets.token_hex(16))
                self.registrations[phone] = known
            log.info("register phone=%s device=%s result=success", request.phone, name)
            return pb.RegisterResponse(result=pb.REGISTER_RESULT_SUCCESS, auth_code=known.auth_code)
        outcome = pb.RegisterResult.Name(result).removeprefix("REGISTER_RESULT_").lower()
        log.info("register phone=%s device=%s result=%s", request.phone, name, outcome)
        return pb.RegisterResponse(result=result)

    async def Authenticate(self, request: Any, context: Any) -> Any:
        await self._check_token(context)
        known = self.registrations.get(phone_key(request.phone))
        accepted = known is not None and hmac.compare_digest(
            known.auth_code.encode(), request.auth_code.encode()
        )
        log.info("authenticate phone=%s accepted=%s", request.phone, accepted)
        if not accepted or known is None:
            return pb.AuthenticateResponse(accepted=False)
        return pb.AuthenticateResponse(accepted=True, device_name=known.device.name)

    async def Logout(self, request: Any, context: Any) -> Any:
        await self._check_token(context)
        revoked = self.registrations.pop(phone_key(request.phone), None) is not None
        log.info("logout phone=%s revoked=%s", request.phone, revoked)
        return pb.LogoutResponse()

    async def _check_token(self, context: Any) -> None:
        if self.expected_authorization is None:
            return
        given = dict(context.invocation_metadata()).get("authorization", "")
        if not hmac.compare_digest(given.encode(), self.expected_authorization.encode()):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid bearer token is required")


def read_devices(path: Path) -> list[Device]:
    with path.open(encoding="utf-8-sig", newline="") as source:
        return list(parse_csv(source))


async def serve(listen: str, devices: list[Device], token: str | None) -> None:
    server = grpc.aio.server()
    pb_grpc.add_DeviceAuthServiceServicer_to_server(AllowListAuthService(devices, token), server)
    try:
        port = server.add_insecure_port(listen)
    except RuntimeError:
        raise SystemExit(f"server.py: cannot listen on {listen}") from None
    await server.start()
    host = listen.rsplit(":", 1)[0]
    log.info(
        "listening on %s:%d with %d allowed device(s), contract %s",
        host, port, len(devices), contract_source,
    )  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("stopping")
    await server.stop(grace=2)


def main() -> int:
    parser = argparse.ArgumentParser(description="Example jt808 DeviceAuthService (allow-list).")
    parser.add_argument(
        "--listen",
        default="127.0.0.1:50061",
        metavar="HOST:PORT",
        help="address to serve on (default 127.0.0.1:50061; port 0: any)",
    )
    parser.add_argument(
        "--devices",
        required=True,
        type=Path,
        metavar="FILE",
        help="allow-list CSV, the format of `jt808 devices import`",
    )
    parser.add_argument(
        "--token",
        default=None,
        help="require `authorization: Bearer TOKEN` (the gateway's --auth-token)",
    )
    args = parser.parse_args()  # fmt: skip
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        devices = read_devices(args.devices)
    except OSError as error:
        print(f"server.py: cannot read {args.devices}: {error.strerror}", file=sys.stderr)
        return 2
    except DeviceImportError as error:
        print(f"server.py: {args.devices}: {error}", file=sys.stderr)
        return 2
    asyncio.run(serve(args.listen, devices, args.token))
    return 0


if __name__ == "__main__":
    sys.exit(main())
