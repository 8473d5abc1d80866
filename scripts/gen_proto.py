"""Generate the Python code of the gRPC contracts under ``proto/`` into the ``jt808`` package.

    python scripts/gen_proto.py          # (re)generate
    python scripts/gen_proto.py --check  # exit 1 when the committed code is stale (CI)

Messages and stubs come from grpcio-tools' bundled protoc, type stubs from mypy-protobuf; both
are pinned in pyproject.toml so that the output is byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import difflib
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
OUTPUT = ROOT / "jt808"
PACKAGE_DOC = '"""Generated from proto/ by scripts/gen_proto.py; do not edit."""\n'


def generate(destination: Path) -> None:
    from grpc_tools import protoc  # type: ignore[import-untyped]  # noqa: PLC0415 (dev only)

    bin_dir = Path(sys.executable).parent
    sources = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"  # the well-known types
    destination.mkdir(parents=True, exist_ok=True)
    out = str(destination.parent)
    status = protoc.main([
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *sources,
    ])  # fmt: skip
    if status != 0:
        raise SystemExit(f"protoc failed with status {status}")
    for directory in [destination, *(p for p in destination.rglob("*") if p.is_dir())]:
        (directory / "__init__.py").write_text(PACKAGE_DOC)
    (destination / "py.typed").write_text("")


def stale_files(expected: Path, actual: Path) -> list[str]:
    def files(root: Path) -> set[str]:
        return {
            str(p.relative_to(root))
            for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }

    wanted, present = files(expected), files(actual)
    problems = [f"missing: jt808/{name}" for name in sorted(wanted - present)]
    problems += [f"not generated: jt808/{name}" for name in sorted(present - wanted)]
    for name in sorted(wanted & present):
        if not filecmp.cmp(expected / name, actual / name, shallow=False):
            diff = difflib.unified_diff(
                (actual / name).read_text().splitlines(),
                (expected / name).read_text().splitlines(),
                lineterm="",
                n=1,
            )
            problems.append(f"differs: jt808/{name}\n" + "\n".join(list(diff)[:20]))
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "jt808"
        generate(fresh)
        if args.check:
            problems = stale_files(fresh, OUTPUT)
            if problems:
                print("generated code is stale; run `make proto`:", file=sys.stderr)
                print("\n".join(problems), file=sys.stderr)
                return 1
            print("generated code is fresh")
            return 0
        shutil.rmtree(OUTPUT, ignore_errors=True)
        shutil.copytree(fresh, OUTPUT)
    print(f"generated {sum(1 for _ in OUTPUT.rglob('*.py'))} modules into {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
