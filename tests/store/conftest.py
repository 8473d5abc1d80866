from __future__ import annotations


def anyio_backend() -> str:
    return "asyncio"
