"""``jt808 devices import FILE.csv | list | delete NAME``: the device registry, offline under
``--data-dir``, or through a running gateway's DeviceRegistryService with ``--gateway``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from clients import devices_remote
from clients.client_options import add_client_options, gateway_given
from gateway.registry import CSV_COLUMNS, DeviceImportError, DeviceRegistry
from gateway.server.config import ENV_PREFIX, GatewayConfig

HELP = "manage the device registry under --data-dir, or of a gateway with --gateway"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    default = GatewayConfig().data_dir
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"the gateway's data directory (env {ENV_PREFIX}DATA_DIR; default {default})",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    load = actions.add_parser(
        "import", help=f"add or update devices from CSV (columns: {', '.join(CSV_COLUMNS)})"
    )
    load.add_argument("file", type=Path, metavar="FILE.csv", help="CSV file, '-' for stdin")
    listing = actions.add_parser("list", help="list devices")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    load.add_argument("--json", action="store_true", help='print {"imported": N}')
    delete = actions.add_parser("delete", help="delete devices and revoke their auth codes")
    delete.add_argument("names", nargs="+", metavar="NAME", help="manufacturer_model_terminalid")
    delete.add_argument("--json", action="store_true", help="nothing on stdout; errors on stderr")
    for action in (load, listing, delete):
        add_client_options(action, json_flag=False)


def run(args: argparse.Namespace) -> int:
    if gateway_given(args):
        return devices_remote.run(args)

    data_dir = args.data_dir or Path(
        os.environ.get(ENV_PREFIX + "DATA_DIR", GatewayConfig().data_dir)
    )
    with DeviceRegistry(data_dir) as registry:
        if args.action == "import":
            try:
                if str(args.file) == "-":
                    count = registry.import_csv(sys.stdin)
                else:
                    with args.file.open(encoding="utf-8-sig", newline="") as source:
                        count = registry.import_csv(source)
            except FileNotFoundError:
                print(f"jt808 devices import: {args.file} does not exist", file=sys.stderr)
                return 2
            except DeviceImportError as error:
                print(f"jt808 devices import: {args.file}: {error}", file=sys.stderr)
                return 1
            if args.json:
                print(json.dumps({"imported": count}))
            else:
                print(f"imported {count} device(s) into {registry.path}")
            return 0
        if args.action == "list":
            for device in registry.devices():
                if args.json:
                    print(json.dumps({
                        "name": device.name, "manufacturer_id": device.manufacturer_id,
                        "terminal_model": device.terminal_model, "terminal_id": device.terminal_id,
                        "phone": device.phone, "plate": device.plate,
                        "plate_color": device.plate_color,
                    }, ensure_ascii=False))  # fmt: skip
                else:
                    print(devices_remote.device_text(device))
            return 0
        missing = [name for name in args.names if not registry.delete(name)]
        for name in missing:
            print(f"jt808 devices delete: no device named {name}", file=sys.stderr)
        return 1 if missing else 0
