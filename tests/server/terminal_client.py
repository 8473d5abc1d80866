"""A scripted JT/T 808 terminal on a real TCP connection, for the server tests.

``TerminalClient`` is the network twin of ``tests.protocol.null_modem.NullModem``: the frames
are built by the same ``Terminal`` (its own serial counter, ``gateway.protocol.encode``), written
to an anyio TCP stream, and the platform's replies are read back through ``FrameDecoder`` and
``decode_packet``. Every read has a deadline, so a test never hangs on a silent gateway.
"""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final, TypeVar

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

from gateway.protocol.bodies.general import PlatformGeneralResponse
from gateway.protocol.bodies.registration import RegisterResult, TerminalRegisterResponse
from gateway.protocol.body import Body
from gateway.protocol.errors import ResultCode
from gateway.protocol.ids import MessageId
from gateway.protocol.message import Message
from gateway.protocol.versions import ProtocolVersion
from gateway.server.config import HostPort
from tests.protocol.null_modem import Terminal
from tests.timeouts import HANG_GUARD

#: How long one read waits for the gateway before the test fails.
READ_TIMEOUT: Final = HANG_GUARD

B = TypeVar("B", bound=Body)

#: The identity ``Terminal.registration()`` sends, and the device name the gateway derives.
MANUFACTURER_ID: Final = "ACME1"
TERMINAL_MODEL: Final = "TK-1"
TERMINAL_ID: Final = "T000001"
DEVICE_NAME: Final = f"{MANUFACTURER_ID}_{TERMINAL_MODEL}_{TERMINAL_ID}"


class ConnectionClosedError(AssertionError):
    """The gateway closed the connection while the test still expected a message."""


class TerminalClient:
    """One terminal connection: write frames, read the platform's messages one at a time."""

    def __init__(self, stream: anyio.abc.SocketStream, terminal: Terminal) -> None:
        self.stream = stream
        self.terminal = terminal
        self._inbox: deque[Message] = deque()
        self.eof = False

    @classmethod
    @asynccontextmanager
    async def connect(
        cls,
        address: HostPort,
        version: ProtocolVersion,
        *,
        phone: str | None = None,
        receive_buffer: int | None = None,
    ) -> AsyncIterator[TerminalClient]:
        """Connect to ``address`` as a terminal of ``version``; ``receive_buffer`` shrinks the
        socket's receive buffer (for a terminal that stops reading)."""
        with anyio.fail_after(READ_TIMEOUT):
            stream = await anyio.connect_tcp(address.host, address.port)
        if receive_buffer is not None:
            raw = stream.extra(SocketAttribute.raw_socket)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        async with stream:
            yield cls(stream, Terminal(version, phone=phone))

    @property
    def phone(self) -> str:
        return self.terminal.phone

    @property
    def local_port(self) -> int:
        return self.stream.extra(SocketAttribute.local_port)

    # ---- writing ---------------------------------------------------------------------------

    async def send(self, *frames: bytes) -> None:
        """Write ``frames`` in one write."""
        await self.stream.send(b"".join(frames))

    async def send_bytewise(self, data: bytes) -> None:
        """Write ``data`` one byte per write (the gateway sees it in as many reads as it likes,
        typically one byte each)."""
        self.stream.extra(SocketAttribute.raw_socket).setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
        )
        for index in range(len(data)):
            await self.stream.send(data[index : index + 1])
            await anyio.sleep(0)

    # ---- reading ---------------------------------------------------------------------------

    async def receive(self, timeout: float = READ_TIMEOUT) -> Message:
        """The next message from the platform; ``ConnectionClosedError`` on EOF."""
        with anyio.fail_after(timeout):
            while not self._inbox:
                if self.eof:
                    raise ConnectionClosedError("the gateway closed the connection")
                await self._read()
        return self._inbox.popleft()

    async def expect(self, body_type: type[B], timeout: float = READ_TIMEOUT) -> tuple[Message, B]:
        """The next message, which must carry a ``body_type`` body."""
        message = await self.receive(timeout)
        assert isinstance(message.body, body_type), (
            f"expected {body_type.__name__}, got 0x{message.msg_id:04X} {message.body!r}"
        )
        return message, message.body

    async def expect_general_response(
        self, reply_id: int, result: ResultCode, *, reply_serial: int | None = None
    ) -> PlatformGeneralResponse:
        """The next message is 0x8001 for ``reply_id`` (and ``reply_serial``) with ``result``."""
        _, body = await self.expect(PlatformGeneralResponse)
        assert (body.reply_id, body.result) == (reply_id, result), body
        if reply_serial is not None:
            assert body.reply_serial == reply_serial, body
        return body

    async def closed(self, timeout: float = READ_TIMEOUT) -> list[Message]:
        """Read until the gateway closes the connection; returns the messages read on the way."""
        messages: list[Message] = []
        with anyio.fail_after(timeout):
            while True:
                while self._inbox:
                    messages.append(self._inbox.popleft())
                if self.eof:
                    return messages
                await self._read()

    async def quiet(self, seconds: float) -> None:
        """Nothing arrives from the platform for ``seconds`` (the connection stays open)."""
        with anyio.move_on_after(seconds):
            while not self._inbox and not self.eof:
                await self._read()
        assert not self._inbox, f"unexpected {self._inbox[0]!r}"
        assert not self.eof, "the gateway closed the connection"

    async def _read(self) -> None:
        try:
            data = await self.stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionResetError):
            self.eof = True
            return
        self._inbox.extend(self.terminal.receive(data))

    # ---- conversations ---------------------------------------------------------------------

    async def register(self, **changes: Any) -> TerminalRegisterResponse:
        """Send 0x0100 and return the 0x8100 that answers it."""
        await self.send(self.terminal.registration(**changes))
        serial = self.terminal.last_serial
        _, body = await self.expect(TerminalRegisterResponse)
        assert body.reply_serial == serial, body
        return body

    async def authenticate(self, auth_code: str) -> ResultCode:
        """Send 0x0102 with ``auth_code``; returns the result of the 0x8001 that answers it."""
        await self.send(self.terminal.authentication(auth_code))
        serial = self.terminal.last_serial
        _, body = await self.expect(PlatformGeneralResponse)
        assert (body.reply_id, body.reply_serial) == (MessageId.TERMINAL_AUTHENTICATE, serial)
        return ResultCode(body.result)

    async def log_in(self, **changes: Any) -> str:
        """Register and authenticate (both must succeed); returns the auth code."""
        registered = await self.register(**changes)
        assert registered.result == RegisterResult.SUCCESS, registered
        assert registered.auth_code
        assert await self.authenticate(registered.auth_code) is ResultCode.SUCCESS
        return registered.auth_code
