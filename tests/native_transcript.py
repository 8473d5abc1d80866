"""A transcript of the protocol core at work, for comparing the compiled core with pure Python.

Run as a script (``python -m tests.native_transcript``) it drives the core through a fixed
corpus and prints one JSON object: which implementation ran, and the SHA-256 and length of the
transcript (every event, every byte sent, every decoded frame). ``tests/test_native.py`` runs it
once per implementation and compares.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Iterator

from gateway import native
from gateway.protocol import V2011, V2013, V2019, decode_frame
from gateway.protocol.bodies.location import QueryLocation
from gateway.protocol.bodies.passthrough import DownlinkPassthrough
from gateway.protocol.errors import ProtocolError
from gateway.protocol.framing import FrameDecoder, NeedData, checksum, escape
from gateway.protocol.message import encode_message
from gateway.protocol.session import SessionEvent

from .native_connection import connection_transcript
from .native_edge import logline_transcript
from .protocol.null_modem import NullModem, Terminal, corrupt, location, with_bad_checksum
from .protocol.real_frames import real_frames


def _events(events: list[SessionEvent]) -> str:
    return repr(events)


def transcript() -> Iterator[str]:
    rng = random.Random(808)
    # Every real frame, decoded on its own.
    for vector in real_frames():
        try:
            message = decode_frame(bytes.fromhex(vector["hex"]))
            yield json.dumps(message.to_json(), sort_keys=True, default=str)
        except ProtocolError as error:
            yield f"error {type(error).__name__} {error} {error.result_code}"
        except ValueError as error:
            yield f"value-error {error}"
    # Checksums and escaping of random data, short and long.
    for size in (0, 1, 5, 40, 95, 96, 97, 200, 1100):
        data = rng.randbytes(size)
        yield f"{size} {checksum(data)} {escape(data).hex()}"
    # Whole sessions of each revision: log in, reports in odd chunks, damage, commands, timers.
    for version in (V2011, V2013, V2019):
        modem = NullModem(Terminal(version))
        yield _events(modem.log_in())
        terminal = modem.terminal
        frames = [terminal.location(speed=float(i)) for i in range(40)]
        frames[5] = with_bad_checksum(frames[5])
        frames[9] = corrupt(frames[9], 3, 0x7D)
        stream = b"".join(frames) + b"\x7e\x00\x7e"
        cut = 0
        while cut < len(stream):
            size = rng.randint(1, 97)
            yield _events(modem.session.receive_data(stream[cut : cut + size], modem.now))
            cut += size
        yield modem.session.data_to_send().hex()
        command = modem.session.send_command(QueryLocation(), modem.now, timeout=100.0)
        yield repr(command.serials)
        yield _events(modem.advance(15.0))  # retransmission
        yield modem.session.data_to_send().hex()
        split = modem.session.send_command(
            DownlinkPassthrough(type=0x41, data=bytes(range(256)) * 12), modem.now, timeout=50.0
        )
        yield repr(split.serials)
        yield modem.session.data_to_send().hex()
        yield _events(modem.advance(200.0))  # idle timeout closes
        yield modem.session.data_to_send().hex()
    # The frame decoder fed one byte at a time.
    decoder = FrameDecoder()
    for byte in b"".join(encode_message(decode_frame(bytes.fromhex(v["hex"]))) for v in _frames()):
        decoder.receive_data(bytes((byte,)))
        while not isinstance(event := decoder.next_event(), NeedData):
            yield repr(event)
    yield repr(location())
    # The terminal edge's connection (compiled with the core).
    yield from connection_transcript()
    # The text of the edge's log lines (compiled with the core).
    yield from logline_transcript()


def _frames() -> list[dict[str, str]]:
    frames = []
    for vector in real_frames():
        try:
            decode_frame(bytes.fromhex(vector["hex"]))
        except (ProtocolError, ValueError):
            continue
        frames.append(vector)
    return frames


def main() -> int:
    digest = hashlib.sha256()
    lines = 0
    for line in transcript():
        digest.update(line.encode() + b"\n")
        lines += 1
    print(
        json.dumps(
            {"compiled": native.running_compiled(), "sha256": digest.hexdigest(), "lines": lines}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
