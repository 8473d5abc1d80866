"""``jt808 devices import FILE.csv | list | delete NAME | reset NAME``: the device registry,
offline under ``--data-dir``, or through a running gateway's DeviceRegistryService with
``--gateway``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from clients import devices_remote
from clients.client_options import add_client_options, gateway_given
from gateway.protocol.errors import shown
from gateway.protocol.wire import TEXT_ENCODING
from gateway.registry import (
    CSV_COLUMNS,
    CsvEncodingError,
    CsvFileError,
    CsvImport,
    DeviceImportError,
    DeviceRegistry,
    RegistryUnavailableError,
    csv_lines,
    parse_csv_rows,
    read_csv_rows,
)
from gateway.server.config import ENV_PREFIX, GatewayConfig


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
    load.add_argument(
        "--encoding",
        choices=("utf-8", TEXT_ENCODING),
        default="utf-8",
        help="of the file: utf-8 (default; a byte order mark is skipped) or gb18030 (also "
        "reads GBK, as Chinese spreadsheets save CSV)",
    )
    listing = actions.add_parser("list", help="list devices")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    load.add_argument("--json", action="store_true", help='print {"imported": N}')
    delete = actions.add_parser("delete", help="delete devices and revoke their auth codes")
    delete.add_argument("names", nargs="+", metavar="NAME", help="manufacturer_model_terminalid")
    delete.add_argument("--json", action="store_true", help="nothing on stdout; errors on stderr")
    reset = actions.add_parser(
        "reset",
        help="revoke a device's auth codes so that it may register again (after a factory reset)",
    )
    reset.add_argument("names", nargs="+", metavar="NAME", help="manufacturer_model_terminalid")
    reset.add_argument("--json", action="store_true", help="nothing on stdout; errors on stderr")
    for action in (load, listing, delete, reset):
        add_client_options(action, json_flag=False)


def run(args: argparse.Namespace) -> int:
    if gateway_given(args):
        return devices_remote.run(args)
    data_dir = args.data_dir or Path(
        os.environ.get(ENV_PREFIX + "DATA_DIR", GatewayConfig().data_dir)
    )
    command = f"jt808 devices {args.action}"
    try:
        registry = DeviceRegistry(data_dir)
    except RegistryUnavailableError as error:
        print(f"{command}: cannot use the data directory {data_dir}: {error}", file=sys.stderr)
        return 2
    with registry:
        try:
            return _run_on(registry, args, command)
        except RegistryUnavailableError as error:  # a full or failing disk: nothing written
            print(f"{command}: cannot use the data directory {data_dir}: {error}", file=sys.stderr)
            return 2


def _run_on(registry: DeviceRegistry, args: argparse.Namespace, command: str) -> int:
    if args.action == "import":
        return _import(registry, args.file, args.encoding, as_json=args.json)
    if args.action == "list":
        _list(registry, as_json=args.json)
        return 0
    act = registry.reset if args.action == "reset" else registry.delete
    missing = [name for name in args.names if not act(name)]
    for name in missing:
        print(f"{command}: no device named {shown(name, quoted=False)}", file=sys.stderr)
    return 1 if missing else 0


def _import(registry: DeviceRegistry, file: Path, encoding: str, *, as_json: bool) -> int:
    """Exit 0 imported, 1 the file's content is unusable (nothing imported), 2 no such file."""
    command = "jt808 devices import"
    try:
        if str(file) == "-":
            rows = list(parse_csv_rows(csv_lines(sys.stdin.buffer, encoding)))
        else:
            rows = read_csv_rows(file, encoding)
    except CsvFileError as error:
        print(f"{command}: {error}", file=sys.stderr)
        return 2
    except CsvEncodingError as error:
        hint = (
            "save it as UTF-8, or pass --encoding gb18030 for a file saved as GBK/GB 18030"
            if encoding == "utf-8"
            else "pass the encoding it was saved in"
        )
        print(f"{command}: {file}: {error}; {hint}", file=sys.stderr)
        return 1
    except DeviceImportError as error:
        print(f"{command}: {file}: {error}", file=sys.stderr)
        return 1
    result = registry.import_rows(rows)
    _report(result, command)
    if as_json:
        print(json.dumps({"imported": result.imported}))
    else:
        print(f"imported {result.imported} device(s) into {registry.path}")
    return 0


def _report(result: CsvImport, command: str) -> None:
    for line, first, name in result.repeated:
        print(
            f"{command}: warning: line {line} describes {name} again (first on line {first}); "
            "the last row wins",
            file=sys.stderr,
        )


def _list(registry: DeviceRegistry, *, as_json: bool) -> None:
    for device in registry.devices():
        if as_json:
            print(json.dumps({
                "name": device.name, "manufacturer_id": device.manufacturer_id,
                "terminal_model": device.terminal_model, "terminal_id": device.terminal_id,
                "phone": device.phone, "plate": device.plate,
                "plate_color": device.plate_color,
            }, ensure_ascii=False))  # fmt: skip
        else:
            print(devices_remote.device_text(device))
