# The gateway in a small image: built from this checkout, run as an unprivileged user, its
# state (the device registry) in a volume, healthy while its gRPC health check says SERVING.
#
#   docker build -t jt808-gateway .
#   docker run -e JT808_GRPC_TOKEN=<long random string> -p 7999:7999 -p 50051:50051 \
#       -v jt808-data:/var/lib/jt808/data jt808-gateway
#
# deploy/compose.yaml runs it with compose; deploy/jt808.toml lists every setting.

ARG PYTHON=python:3.11-slim-bookworm

# ---- build: the project's wheel and the wheels of its runtime dependencies ------------------
FROM ${PYTHON} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY controlplane ./controlplane
COPY clients ./clients
COPY jt808 ./jt808
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# ---- run: only what the gateway needs, installed from the wheels above --------------------
FROM ${PYTHON}
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/jt808 --create-home jt808 \
    && mkdir /var/lib/jt808/data \
    && chown jt808:jt808 /var/lib/jt808/data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels /wheels/jt808_gateway-*.whl \
    && rm -rf /wheels
USER 10001:10001
WORKDIR /var/lib/jt808
# The control plane listens beyond loopback here, so the gateway starts only with a token:
# pass JT808_GRPC_TOKEN (every gRPC call must then carry `authorization: Bearer <token>`).
ENV JT808_LISTEN=0.0.0.0:7999 \
    JT808_GRPC_LISTEN=0.0.0.0:50051 \
    JT808_DATA_DIR=/var/lib/jt808/data \
    JT808_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/jt808/data"]
EXPOSE 7999 50051
HEALTHCHECK --interval=30s --timeout=10s --start-period=15s --retries=3 \
    CMD ["jt808", "health", "--timeout", "5"]
ENTRYPOINT ["jt808"]
CMD ["serve"]
