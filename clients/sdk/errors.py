"""What can go wrong in a call to the gateway, as exceptions a program can tell apart.

Every failed call raises a ``GatewayError`` subclass chosen from the gRPC status and, for
commands, the trailing metadata ``jt808-command-outcome``; ``str(error)`` is one sentence a
person can act on. The gRPC status stays available as ``error.code``.
"""

from __future__ import annotations

from typing import Final

import grpc

#: Trailing metadata of a command that ended without a reply ("no-reply", "not-delivered",
#: "session-closed").
COMMAND_OUTCOME_KEY: Final = "jt808-command-outcome"
#: Longest gRPC detail text repeated in a message (a peer's text is not trusted to be short).
_MAX_DETAILS: Final = 300


class GatewayError(Exception):
    """A call failed. ``code`` is the gRPC status (``None`` for errors found before a call)."""

    def __init__(
        self, message: str, *, code: grpc.StatusCode | None = None, outcome: str = ""
    ) -> None:
        super().__init__(message)
        self.code = code
        #: For commands without a reply: "no-reply", "not-delivered" or "session-closed".
        self.outcome = outcome


class InvalidRequestError(GatewayError):
    """The request is malformed (INVALID_ARGUMENT, or refused before it was sent); the message
    names the field."""


class TerminalNotConnectedError(GatewayError):
    """No terminal with that phone is connected and authenticated (NOT_FOUND), or, for the
    registry, no such device."""


class NoReplyError(GatewayError):
    """The command got no reply in time (DEADLINE_EXCEEDED): ``outcome`` tells "no-reply"
    (sent and retransmitted, never answered) from "not-delivered" (it never left)."""


class TerminalDisconnectedError(GatewayError):
    """The terminal disconnected after the command was sent, before it replied."""


class GatewayUnavailableError(GatewayError):
    """The gateway cannot be reached, or it is shutting down (UNAVAILABLE)."""


class AccessDeniedError(GatewayError):
    """The gateway wants a token (``--token`` / ``JT808_GRPC_TOKEN``) or refused the one given."""


class TooManyCommandsError(GatewayError):
    """The terminal already has the most commands in flight the gateway allows."""


class WrongModeError(GatewayError):
    """The gateway cannot do this in its configuration (FAILED_PRECONDITION), e.g. the device
    registry of a gateway that does not run ``--auth local``."""


def error_from_rpc(error: grpc.RpcError, target: str) -> GatewayError:
    """The ``GatewayError`` for a failed call to the gateway at ``target``."""
    code: grpc.StatusCode | None = getattr(error, "code", lambda: None)()
    details = _bounded(getattr(error, "details", lambda: "")() or "")
    outcome = _outcome(error)
    if code is grpc.StatusCode.UNAVAILABLE and outcome == "session-closed":
        return TerminalDisconnectedError(details, code=code, outcome=outcome)
    if code is grpc.StatusCode.UNAVAILABLE:
        if "shutting down" in details:
            return GatewayUnavailableError(details, code=code)
        return GatewayUnavailableError(
            f"cannot reach the gateway at {target} ({_reason(details)})", code=code
        )
    if code is grpc.StatusCode.DEADLINE_EXCEEDED and not outcome:
        details = f"the gateway at {target} did not answer in time"
    kind = _KINDS.get(code, GatewayError) if code is not None else GatewayError
    if kind is GatewayError and code is not None:
        details = f"the gateway at {target} failed the call: {code.name} {details}".rstrip()
    return kind(details, code=code, outcome=outcome)


_KINDS: Final[dict[grpc.StatusCode, type[GatewayError]]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequestError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidRequestError,
    grpc.StatusCode.NOT_FOUND: TerminalNotConnectedError,
    grpc.StatusCode.DEADLINE_EXCEEDED: NoReplyError,
    grpc.StatusCode.UNAUTHENTICATED: AccessDeniedError,
    grpc.StatusCode.PERMISSION_DENIED: AccessDeniedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: TooManyCommandsError,
    grpc.StatusCode.FAILED_PRECONDITION: WrongModeError,
}


def _outcome(error: grpc.RpcError) -> str:
    trailing = getattr(error, "trailing_metadata", lambda: None)()
    for key, value in trailing or ():
        if key == COMMAND_OUTCOME_KEY:
            return str(value)[:40]
    return ""


def _reason(details: str) -> str:
    """gRPC's connection failure text, down to its last cause ("Connection refused")."""
    cause = details.rsplit(": ", 1)[-1].strip()
    return cause or "unreachable"


def _bounded(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAILS else text[: _MAX_DETAILS - 1] + "…"
