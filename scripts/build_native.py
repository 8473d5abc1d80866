"""Compile the hot modules of the protocol core with mypyc, in place (``make native``).

The extension modules land next to their sources (``gateway/protocol/*.so``, ignored by git)
and ``gateway.native`` imports them instead of the ``.py`` files while the sources are
unchanged: the manifest written here records their digests. ``--clean`` removes the build.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

from mypyc.build import mypycify
from setuptools import setup

from gateway.native import (
    NATIVE_GROUP,
    NATIVE_MANIFEST,
    NATIVE_MODULES,
    ROOT,
    source_digests,
    source_path,
)

BUILD_DIR = ROOT / "build" / "native"


def clean() -> None:
    for module in (*NATIVE_MODULES, NATIVE_GROUP + "__mypyc"):
        for built in source_path(module).parent.glob(module.rsplit(".", 1)[1] + ".*.so"):
            built.unlink()
    NATIVE_MANIFEST.unlink(missing_ok=True)
    shutil.rmtree(BUILD_DIR, ignore_errors=True)


def build() -> None:
    clean()
    os.chdir(ROOT)  # mypyc wants paths relative to the project root
    sources = [str(source_path(m).relative_to(ROOT)) for m in NATIVE_MODULES]
    setup(
        name="jt808-native",
        # mypyc types its extensions with distutils' class, setuptools' stubs want their own.
        ext_modules=mypycify(  # type: ignore[arg-type]
            sources, group_name=NATIVE_GROUP, target_dir=str(BUILD_DIR), opt_level="3"
        ),
        script_args=["-q", "build_ext", "--inplace", "--build-temp", str(BUILD_DIR / "temp")],
    )
    NATIVE_MANIFEST.write_text(json.dumps(source_digests(), indent=2, sort_keys=True) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clean", action="store_true", help="remove the compiled modules")
    args = parser.parse_args()
    if args.clean:
        clean()
        return 0
    build()
    print(f"compiled {len(NATIVE_MODULES)} modules of the protocol core", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
