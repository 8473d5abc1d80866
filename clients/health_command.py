"""``jt808 health``: ask a gateway's control plane whether it serves (gRPC health checking).

For container health checks, systemd and scripts: exit status 0 when the gateway (or the one
``--service`` asked about) is SERVING, 1 when it is not or cannot be reached, 2 for usage
errors; one line on stdout (``SERVING``) or one sentence on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Final

import grpc
from grpc_health.v1 import health_pb2

from gateway.protocol.errors import shown
from gateway.server.config import ENV_PREFIX, ConfigError, parse_host_port, read_token_file

DEFAULT_GATEWAY: Final = "127.0.0.1:50051"
CHECK_METHOD: Final = "/grpc.health.v1.Health/Check"
EXIT_SERVING: Final = 0
EXIT_NOT_SERVING: Final = 1
EXIT_USAGE: Final = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gateway",
        default=None,
        metavar="HOST:PORT",
        help=f"the gateway's gRPC control plane (env {ENV_PREFIX}GATEWAY; "
        f"default {DEFAULT_GATEWAY})",
    )
    parser.add_argument(
        "--token",
        default=None,
        metavar="TOKEN",
        help=f"bearer token of a gateway that requires one (env {ENV_PREFIX}GRPC_TOKEN)",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="file holding the bearer token (one line; keeps it out of the process list)",
    )
    parser.add_argument(
        "--service",
        default="",
        metavar="NAME",
        help="a service to ask about, e.g. jt808.gateway.v1.GatewayService (default: the "
        "whole gateway)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds to wait for the answer (default 5)",
    )


def run(args: argparse.Namespace) -> int:
    target = args.gateway or os.environ.get(ENV_PREFIX + "GATEWAY") or DEFAULT_GATEWAY
    token = args.token or os.environ.get(ENV_PREFIX + "GRPC_TOKEN")
    try:
        address = parse_host_port(target, allow_any_port=True)
    except ConfigError as error:
        print(f"jt808 health: --gateway: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.token_file is not None:
        if args.token:
            print("jt808 health: --token and --token-file both give the token: give one",
                  file=sys.stderr)  # fmt: skip
            return EXIT_USAGE
        try:
            token = read_token_file(args.token_file, "--token-file")
        except ConfigError as error:
            print(f"jt808 health: {error}", file=sys.stderr)
            return EXIT_USAGE
    if not args.timeout > 0:
        print("jt808 health: --timeout must be a positive number of seconds", file=sys.stderr)
        return EXIT_USAGE
    metadata = () if token is None else (("authorization", f"Bearer {token}"),)
    request = health_pb2.HealthCheckRequest(service=args.service)
    with grpc.insecure_channel(str(address)) as channel:
        check = channel.unary_unary(
            CHECK_METHOD,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            reply = check(request, metadata=metadata, timeout=args.timeout)
        except grpc.RpcError as error:
            print(f"jt808 health: {address}: {_problem(error, args.service)}", file=sys.stderr)
            return EXIT_NOT_SERVING
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        print(f"jt808 health: {address}: {status}", file=sys.stderr)
        return EXIT_NOT_SERVING
    print(status)
    return EXIT_SERVING


def _problem(error: grpc.RpcError, service: str) -> str:
    # The error a blocking call raises is also its grpc.Call: it has code() and details().
    code: grpc.StatusCode | None = getattr(error, "code", lambda: None)()
    if code is grpc.StatusCode.UNAVAILABLE:
        return "not reachable (is the gateway running, and is this its --grpc-listen address?)"
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return "no answer within --timeout"
    if code is grpc.StatusCode.UNAUTHENTICATED:
        return "the gateway requires a token: pass --token or --token-file, or set JT808_GRPC_TOKEN"
    if code is grpc.StatusCode.NOT_FOUND:
        return f"no service named {shown(service, quoted=False)}"
    name = code.name if code is not None else "error"
    details: str = getattr(error, "details", lambda: "")() or ""
    return f"{name} {shown(details, quoted=False)}".strip()
