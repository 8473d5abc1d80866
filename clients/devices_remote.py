"""``jt808 devices ... --gateway HOST:PORT``: the registry of a running gateway over gRPC.

The same actions and output as the offline command, through ``DeviceRegistryService`` (the
gateway must run ``--auth local``, its default).
"""

from __future__ import annotations

import argparse
import sys
from typing import Protocol

from gateway.protocol.errors import shown
from gateway.registry import CsvEncodingError, csv_lines
from jt808.gateway.v1.device_registry_service_pb2 import ImportDevicesResponse

from .client_options import Output, client_from, note, run_client
from .exit_status import ExitCode
from .sdk import TerminalNotConnectedError


def run(args: argparse.Namespace) -> int:
    if args.action == "import":
        try:
            csv_text = _read_csv(args.file, args.encoding)
        except OSError as error:
            note("devices import", f"cannot read {args.file}: {error.strerror or error}")
            return ExitCode.USAGE
        except CsvEncodingError as error:
            note("devices import", f"{args.file}: {error}; save it as UTF-8 or pass --encoding")
            return ExitCode.USAGE

    async def main() -> int:
        out = Output(args.json)
        async with client_from(args) as client:
            if args.action == "import":
                count = await client.import_devices(csv=csv_text)
                out.message(
                    ImportDevicesResponse(imported=count),
                    f"imported {count} device(s) into the gateway at {client.target}",
                )
                return ExitCode.OK
            if args.action == "list":
                for device in await client.list_devices():
                    out.message(device, device_text)
                return ExitCode.OK
            act = client.reset_device if args.action == "reset" else client.delete_device
            missing = False
            for name in args.names:
                try:
                    await act(name)
                except TerminalNotConnectedError:
                    note(f"devices {args.action}", f"no device named {shown(name, quoted=False)}")
                    missing = True
            return ExitCode.NOT_FOUND if missing else ExitCode.OK

    return run_client(f"devices {args.action}", main)


def _read_csv(path: object, encoding: str) -> str:
    """The CSV's text (the gateway parses it), decoded line by line as the offline import does."""
    if str(path) == "-":
        return "".join(csv_lines(sys.stdin.buffer, encoding))
    with open(str(path), "rb") as source:
        return "".join(csv_lines(source, encoding))


class _Device(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def phone(self) -> str: ...
    @property
    def plate(self) -> str: ...


def device_text(device: _Device) -> str:
    """The line of ``jt808 devices list`` (offline or not): the name, then the pins set."""
    pins = [
        f"phone={device.phone}" * bool(device.phone),
        f"plate={device.plate}" * bool(device.plate),
    ]
    return f"{device.name}  {' '.join(pin for pin in pins if pin)}".rstrip()
