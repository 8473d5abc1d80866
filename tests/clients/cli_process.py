"""``jt808`` as a separate process, the way people and scripts run it.

``run_cli`` runs a command to its end; ``cli_process`` starts a long-running one (``stream``,
``events``, ``dashboard``) whose stdout is read line by line with a deadline. The environment
is the test's own without any ``JT808_*`` variable, so nothing from the machine leaks in.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

import anyio
import anyio.abc

#: Hang guard of one command (a busy machine may take long to start Python).
RUN_TIMEOUT: Final = 60.0
LINE_TIMEOUT: Final = 20.0


@dataclass(frozen=True, slots=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str

    @property
    def stdout_lines(self) -> list[str]:
        return self.stdout.splitlines()


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("JT808_")}
    env.update(extra or {})
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "clients.cli", *args]


async def run_cli(*args: str, env: Mapping[str, str] | None = None, stdin: bytes = b"") -> Finished:
    with anyio.fail_after(RUN_TIMEOUT):
        result = await anyio.run_process(
            cli_command(*args), input=stdin, check=False, env=cli_env(env)
        )
    return Finished(result.returncode, result.stdout.decode(), result.stderr.decode())


class RunningCli:
    """A started ``jt808`` process: ``await next_line()``, then ``await interrupt()``."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self.process = process
        self._buffer = b""

    async def next_line(self, timeout: float = LINE_TIMEOUT) -> str:
        assert self.process.stdout is not None
        with anyio.fail_after(timeout):
            while b"\n" not in self._buffer:
                try:
                    self._buffer += await self.process.stdout.receive()
                except anyio.EndOfStream:
                    raise AssertionError(
                        f"the process ended (status {self.process.returncode}) before a line; "
                        f"stderr: {await self.stderr()}"
                    ) from None
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    async def interrupt(self, signum: signal.Signals = signal.SIGINT) -> int:
        """Send ``signum`` and wait for the exit status."""
        self.process.send_signal(signum)
        with anyio.fail_after(RUN_TIMEOUT):
            return await self.process.wait()

    async def stderr(self) -> str:
        assert self.process.stderr is not None
        chunks = []
        with anyio.move_on_after(5):
            async for chunk in self.process.stderr:
                chunks.append(chunk)
        return b"".join(chunks).decode()


@asynccontextmanager
async def cli_process(
    *args: str, env: Mapping[str, str] | None = None
) -> AsyncIterator[RunningCli]:
    process = await anyio.open_process(
        cli_command(*args), env=cli_env(env), stdin=subprocess.DEVNULL
    )
    try:
        yield RunningCli(process)
    finally:
        if process.returncode is None:
            process.kill()
            with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                await process.wait()
        await process.aclose()
