"""Every error of the API and the gRPC status it becomes: the one place of that mapping.

Servicers raise ``ApiError`` (or let a known exception through ``api_error_of``); the
``grpc_errors`` decorator turns it into ``context.abort`` with details a person can act on and,
for command failures, the machine-readable trailing metadata ``jt808-command-outcome``.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final, TypeVar

import grpc

from gateway.protocol.commands import CommandFailed, CommandFailure, TooManyPendingCommandsError
from gateway.protocol.errors import EncodeError, shown
from gateway.protocol.ids import message_name
from gateway.protocol.session import SessionNotReadyError
from gateway.store.blob import DamagedBlobError

#: Trailing metadata key telling how a command without a reply ended.
COMMAND_OUTCOME_KEY: Final = "jt808-command-outcome"
_PHONE: Final = re.compile(r"[0-9]{1,20}")
MAX_COMMAND_TIMEOUT: Final = 600.0
#: The longest status message sent. gRPC carries it in trailing metadata, which clients refuse
#: past 16 KiB; a message is written for a person, and the messages built here (which quote
#: input through ``shown``) stay far below this cut, which only guards against a missed one.
MAX_DETAILS: Final = 300


class InvalidCommandError(ValueError):
    """A command request the gateway cannot turn into a message; ``path`` names the field.

    Defined here, not in ``controlplane.commands`` (which raises it), so that mapping errors
    does not import the command builders and every message body they use at start-up."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class ApiError(Exception):
    def __init__(
        self, code: grpc.StatusCode, details: str, *, metadata: tuple[tuple[str, str], ...] = ()
    ) -> None:
        if len(details) > MAX_DETAILS:
            details = details[: MAX_DETAILS - 1] + "…"
        super().__init__(details)
        self.code = code
        self.details = details
        self.metadata = metadata


def invalid(field: str, problem: str) -> ApiError:
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"{field}: {problem}")


def checked_phone(phone: str, field: str = "phone") -> str:
    if not _PHONE.fullmatch(phone):
        given = shown(phone) if phone else "empty"
        raise invalid(
            field, f"{given} is not a terminal phone number (1-20 digits, as on the wire)"
        )
    return phone


def terminal_not_found(phone: str) -> ApiError:
    return ApiError(
        grpc.StatusCode.NOT_FOUND,
        f"terminal {phone} is not connected to this gateway (no authenticated session)",
    )


def command_name(msg_id: int) -> str:
    name = message_name(msg_id)
    return f"0x{msg_id:04X} ({name})" if name else f"0x{msg_id:04X}"


def command_failed(phone: str, failed: CommandFailed) -> ApiError:
    command = command_name(failed.msg_id)
    outcome = ((COMMAND_OUTCOME_KEY, failed.reason.name.lower().replace("_", "-")),)
    if failed.reason is CommandFailure.NO_REPLY:
        return ApiError(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"sent, no reply: terminal {phone} did not answer {command} "
            f"(sent and retransmitted {failed.retries} time(s))",
            metadata=outcome,
        )
    if failed.reason is CommandFailure.NOT_DELIVERED:
        return ApiError(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"not delivered: {command} never left the gateway; terminal {phone} disconnected first",
            metadata=outcome,
        )
    return ApiError(
        grpc.StatusCode.UNAVAILABLE,
        f"terminal {phone} disconnected after {command} was sent, before it replied",
        metadata=outcome,
    )


def api_error_of(error: Exception, *, phone: str = "", msg_id: int = 0) -> ApiError | None:
    """The status of an exception the core raises for a request, or None when it is a bug."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, InvalidCommandError):
        return ApiError(grpc.StatusCode.INVALID_ARGUMENT, str(error))
    if isinstance(error, EncodeError):
        return ApiError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"{command_name(msg_id)} cannot be written for terminal {phone}: {error}",
        )
    if isinstance(error, TooManyPendingCommandsError):
        return ApiError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"terminal {phone}: {error}; wait for replies before sending more",
        )
    if isinstance(error, SessionNotReadyError):
        return ApiError(grpc.StatusCode.UNAVAILABLE, f"terminal {phone}: {error}")
    if isinstance(error, DamagedBlobError):  # a replay met a damaged part of the event log
        return ApiError(grpc.StatusCode.DATA_LOSS, f"event log: {error}")
    if isinstance(error, sqlite3.Error):
        # A replay could not read the event log (a failing disk, a file being replaced): a
        # condition that passes, so the client may retry (the SDK's streams do, on UNAVAILABLE).
        return ApiError(grpc.StatusCode.UNAVAILABLE, f"the event log cannot be read now: {error}")
    return None


async def abort(context: grpc.aio.ServicerContext[Any, Any], error: ApiError) -> None:
    if error.metadata:
        context.set_trailing_metadata(error.metadata)
    await context.abort(error.code, error.details)


def _known(error: Exception) -> ApiError:
    """The status of an error a request can cause; anything else is a bug and propagates
    (grpc reports it as UNKNOWN)."""
    mapped = api_error_of(error)
    if mapped is None:
        raise error
    return mapped


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
G = TypeVar("G", bound=Callable[..., AsyncIterator[Any]])


def unary_errors(method: F) -> F:
    """Abort the call with the status of an ``ApiError`` (or a known error, ``api_error_of``)
    raised by a unary method."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: Any) -> Any:
        try:
            return await method(self, request, context)
        except Exception as error:
            await abort(context, _known(error))

    return wrapper  # type: ignore[return-value]


def stream_errors(method: G) -> G:
    """The same for server-streaming methods (async generators)."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: Any) -> AsyncIterator[Any]:
        try:
            async for item in method(self, request, context):
                yield item
        except Exception as error:
            await abort(context, _known(error))

    return wrapper  # type: ignore[return-value]
