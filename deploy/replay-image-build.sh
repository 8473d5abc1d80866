#!/usr/bin/env bash
# Replays what the Dockerfile does, on this machine, without a container engine: copy the same
# build context, build the wheels (`pip wheel`), install the gateway from those wheels alone
# (`--no-index`) into a fresh environment, start `jt808 serve` with the image's settings (on
# loopback ports here), wait for `jt808 health` to say SERVING, stop it with SIGTERM.
# Prints the size of the wheels and of the installed environment. Exit 0 when every step worked.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
work=$(mktemp -d)
server=""
cleanup() {
    if [[ -n "$server" ]] && kill -0 "$server" 2>/dev/null; then kill -9 "$server"; fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "== build stage: the wheels (context: the files the Dockerfile copies)"
mkdir "$work/src"
cp -r pyproject.toml README.md gateway controlplane clients jt808 "$work/src/"
find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
"$PYTHON" -m pip wheel --quiet --no-cache-dir --wheel-dir "$work/wheels" "$work/src"
ls "$work/wheels"

echo "== run stage: install from the wheels only"
"$PYTHON" -m venv "$work/image"
"$work/image/bin/pip" install --quiet --no-cache-dir --no-index --find-links "$work/wheels" \
    "$work/wheels"/jt808_gateway-*.whl
echo "wheels: $(du -sh "$work/wheels" | cut -f1), installed environment: $(du -sh "$work/image" | cut -f1)"
"$work/image/bin/jt808" --version

echo "== serve with the image's settings (loopback ports here) until healthy"
ports=$("$PYTHON" -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1", 0)) for x in s]
print(*(x.getsockname()[1] for x in s))')
read -r terminal_port grpc_port <<<"$ports"
token=$("$PYTHON" -c 'import secrets; print(secrets.token_hex(24))')
export JT808_LISTEN="127.0.0.1:$terminal_port" JT808_GRPC_LISTEN="127.0.0.1:$grpc_port"
export JT808_DATA_DIR="$work/data" JT808_LOG_FORMAT=json JT808_GRPC_TOKEN="$token"
export JT808_GATEWAY="$JT808_GRPC_LISTEN" PYTHONUNBUFFERED=1
"$work/image/bin/jt808" serve 2>"$work/serve.log" &
server=$!
for _ in $(seq 60); do
    if "$work/image/bin/jt808" health --timeout 2 >/dev/null 2>&1; then break; fi
    sleep 0.5
done
"$work/image/bin/jt808" health
kill -TERM "$server"
wait "$server"
server=""
echo "== stopped cleanly (exit 0); its log:"
cat "$work/serve.log"
