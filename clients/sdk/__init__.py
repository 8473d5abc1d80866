"""Python SDK of the jt808 gateway: an async client of its gRPC API.

    import asyncio
    from clients.sdk import GatewayClient

    async def main() -> None:
        async with GatewayClient("127.0.0.1:50051") as gateway:
            reply = await gateway.send_text("013800000000", "hello")
            print("terminal answered", reply.result)
            async for location in gateway.locations():
                print(location.phone, location.latitude, location.longitude)

    asyncio.run(main())

``python -m clients.sdk.example`` is a runnable version. Messages are the generated
``jt808.gateway.v1`` types; failures are ``GatewayError`` subclasses.
"""

from .client import (
    DEFAULT_GATEWAY,
    GATEWAY_ENV,
    TOKEN_ENV,
    Device,
    GatewayClient,
    TlsOptions,
    result_text,
)
from .commands import (
    COMMAND_FIELDS,
    CONTROL_COMMANDS,
    Command,
    ParameterValue,
    parameter,
    parameter_id,
    parameter_value,
    query_parameters,
    raw_command,
    set_parameters,
    terminal_control,
)
from .errors import (
    AccessDeniedError,
    GatewayError,
    GatewayUnavailableError,
    InvalidRequestError,
    NoReplyError,
    TerminalDisconnectedError,
    TerminalNotConnectedError,
    TooManyCommandsError,
    WrongModeError,
)
from .streams import LiveStream
from .views import message_dict, message_json

__all__ = [
    "COMMAND_FIELDS",
    "CONTROL_COMMANDS",
    "DEFAULT_GATEWAY",
    "GATEWAY_ENV",
    "TOKEN_ENV",
    "AccessDeniedError",
    "Command",
    "Device",
    "GatewayClient",
    "GatewayError",
    "GatewayUnavailableError",
    "InvalidRequestError",
    "LiveStream",
    "NoReplyError",
    "ParameterValue",
    "TerminalDisconnectedError",
    "TerminalNotConnectedError",
    "TlsOptions",
    "TooManyCommandsError",
    "WrongModeError",
    "message_dict",
    "message_json",
    "parameter",
    "parameter_id",
    "parameter_value",
    "query_parameters",
    "raw_command",
    "result_text",
    "set_parameters",
    "terminal_control",
]
