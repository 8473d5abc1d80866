"""Hostile peers for the floods benchmark and the hostile-input suite
(``tests/server/test_hostile_suite.py``): seeded generators of bad frames (random, mutated,
every message id in every revision, encryption bits, sub-packages) and the connections that
send them, each bounded in count and time."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import anyio
import anyio.abc

from gateway.protocol.bodies.registration import TerminalAuthenticate, TerminalRegister
from gateway.protocol.body import Body
from gateway.protocol.errors import EncodeError
from gateway.protocol.framing import encode_frame
from gateway.protocol.header import Header, PacketInfo, encode_header
from gateway.protocol.ids import MessageId
from gateway.protocol.message import encode
from gateway.protocol.versions import V2011, V2013, V2019, ProtocolVersion
from gateway.server.config import HostPort

VERSIONS: tuple[ProtocolVersion, ...] = (V2011, V2013, V2019)


def random_phone(rng: random.Random, version: ProtocolVersion) -> str:
    digits = 20 if version is V2019 else 12
    return "".join(rng.choice("0123456789") for _ in range(digits))


def frame(body: Body, version: ProtocolVersion, phone: str, serial: int = 0) -> bytes:
    """A well-formed frame of ``body``."""
    header = Header(body.MSG_ID, phone, serial, version, 1 if version is V2019 else 0)
    return encode(header, body)


def registration(
    version: ProtocolVersion, phone: str, terminal_id: str = "T000001", plate: str = "A12345"
) -> bytes:
    """A 0x0100 of the device ACME1 / TK-1 / ``terminal_id`` in the vehicle ``plate``."""
    body = TerminalRegister(
        province_id=44, city_id=300, manufacturer_id="ACME1", terminal_model="TK-1",
        terminal_id=terminal_id, plate_color=1, plate=plate,
    )  # fmt: skip
    return frame(body, version, phone)


def crafted_frame(
    rng: random.Random, msg_id: int, version: ProtocolVersion, phone: str, serial: int
) -> bytes:
    """A frame with a random body for ``msg_id``: random encryption bits, sometimes a packet
    item (sometimes an inconsistent one)."""
    packet = None
    if rng.random() < 0.3:
        total = rng.choice((1, 2, 3, 4096, 65535))
        packet = PacketInfo(total, rng.randint(0, total + 1) % 65536)
    header = Header(msg_id, phone, serial, version, 1 if version is V2019 else 0,
                    rng.choice((0, 0, 0, 1, 2, 4, 7)), packet)  # fmt: skip
    body = rng.randbytes(rng.choice((0, 1, 4, 16, 28, 64, 300)))
    try:
        return encode_frame(encode_header(header, len(body)) + body)
    except EncodeError:
        return encode_frame(rng.randbytes(40))


def mutated(rng: random.Random, frame: bytes) -> bytes:
    """``frame`` with a few bytes flipped, cut, or doubled delimiters."""
    data = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        index = rng.randrange(len(data))
        if choice < 0.6:
            data[index] = rng.randrange(256)
        elif choice < 0.8:
            del data[index:]
            if not data:
                data = bytearray(b"\x7e")
        else:
            data.insert(index, 0x7E)
    return bytes(data)


def every_message_frames(
    rng: random.Random, phone_of: dict[ProtocolVersion, str]
) -> Iterator[bytes]:
    """Random-bodied frames of every known message id in every revision."""
    serial = rng.randrange(65536)
    for msg_id in MessageId:
        for version in VERSIONS:
            serial = (serial + 1) % 65536
            yield crafted_frame(rng, int(msg_id), version, phone_of[version], serial)


@dataclass(slots=True)
class AttackStats:
    connections: int = 0
    frames: int = 0
    bytes: int = 0
    refused_at_connect: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, frames: int, sent: int) -> None:
        self.frames += frames
        self.bytes += sent
        self.by_kind[kind] = self.by_kind.get(kind, 0) + frames


#: Attacks on loopback come from many source addresses (any 127.x.y.z is this host), as a
#: botnet's would, so that per-address caps alone do not stop them.
_SOURCES = itertools.cycle([f"127.0.{i // 250}.{i % 250 + 2}" for i in range(500)])


async def _open(address: HostPort, stats: AttackStats) -> anyio.abc.SocketStream | None:
    source = next(_SOURCES) if address.host == "127.0.0.1" else None
    try:
        stream = await anyio.connect_tcp(address.host, address.port, local_host=source)
    except OSError:
        stats.refused_at_connect += 1
        return None
    stats.connections += 1
    return stream


async def _send(stream: anyio.abc.SocketStream, data: bytes) -> bool:
    try:
        await stream.send(data)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        return False
    return True


async def _drain(stream: anyio.abc.SocketStream) -> None:
    """Read (and ignore) what the gateway answers, so that it never stalls on us."""
    try:
        while True:
            await stream.receive()
    except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        return


async def send_frames(
    address: HostPort, frames: list[bytes], stats: AttackStats, kind: str, *, chunk: int = 50
) -> None:
    """One connection that sends ``frames`` (in writes of ``chunk`` frames) and reads back."""
    stream = await _open(address, stats)
    if stream is None:
        return
    async with stream, anyio.create_task_group() as tasks:
        tasks.start_soon(_drain, stream)
        for start in range(0, len(frames), chunk):
            data = b"".join(frames[start : start + chunk])
            if not await _send(stream, data):
                break
            stats.count(kind, len(frames[start : start + chunk]), len(data))
            await anyio.sleep(0)
        await anyio.sleep(0.05)
        tasks.cancel_scope.cancel()


async def slow_loris(
    address: HostPort, stats: AttackStats, seconds: float, trickle: bytes = b""
) -> None:
    """A connection that sends ``trickle`` a byte every 0.2 s (or nothing) for ``seconds``."""
    stream = await _open(address, stats)
    if stream is None:
        return
    async with stream:
        deadline = time.monotonic() + seconds
        index = 0
        while time.monotonic() < deadline:
            if trickle:
                if not await _send(
                    stream, trickle[index % len(trickle) : index % len(trickle) + 1]
                ):
                    return
                stats.count("slow-loris", 0, 1)
                index += 1
            await anyio.sleep(0.2)


async def bad_auth(address: HostPort, rng: random.Random, stats: AttackStats) -> None:
    """Registrations of unknown devices and authentications with wrong codes."""
    version = rng.choice(VERSIONS)
    phone = random_phone(rng, version)
    guesses = [TerminalAuthenticate(auth_code=rng.randbytes(8).hex()) for _ in range(2)]
    frames = [
        registration(version, phone, f"X{rng.randrange(10**6):06d}"),
        *(frame(guess, version, phone, serial) for serial, guess in enumerate(guesses, 1)),
    ]
    await send_frames(address, frames, stats, "bad-auth", chunk=1)
