"""Reload TLS material without a restart: on SIGHUP, and when the files change.

``serve_reloads`` runs beside the listener. SIGHUP reloads at once (the operator's explicit
"the new files are in place"); every ``interval`` seconds the files' inode, size and mtime are
compared and a change reloads too, so a renewal tool that only rewrites files is picked up
without a signal. A reload that fails keeps the previous material (``TlsServer.reload``).
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from typing import Protocol

import anyio
import anyio.abc

from gateway.server.logs import get_logger

log = get_logger()


class Reloadable(Protocol):
    def reload(self, *, only_if_changed: bool = False) -> bool: ...


async def serve_reloads(
    targets: Sequence[Reloadable],
    *,
    interval: float,
    on_signal: bool = True,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Reload ``targets`` on SIGHUP (when ``on_signal``) and on file changes every ``interval``
    seconds (0: never polled). Runs until cancelled."""
    async with anyio.create_task_group() as tasks:
        if on_signal:
            await tasks.start(_on_sighup, targets)
        if interval > 0:
            tasks.start_soon(_poll, targets, interval)
        task_status.started()


async def _on_sighup(
    targets: Sequence[Reloadable],
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    with anyio.open_signal_receiver(signal.SIGHUP) as signals:
        task_status.started()
        async for _ in signals:
            log.info("signal received", extra={"signal": "SIGHUP", "action": "reload TLS"})
            for target in targets:
                target.reload()


async def _poll(targets: Sequence[Reloadable], interval: float) -> None:
    while True:
        await anyio.sleep(interval)
        for target in targets:
            target.reload(only_if_changed=True)


__all__ = ["Reloadable", "serve_reloads"]
