"""``jt808 decode``: hex frames in, one JSON object per frame out (placeholder, being built)."""

from __future__ import annotations

import argparse

HELP = "decode JT/T 808 frames given as hex (arguments, or one per line on stdin) to JSON"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("frames", nargs="*", metavar="HEX")


def run(args: argparse.Namespace) -> int:
    raise NotImplementedError
