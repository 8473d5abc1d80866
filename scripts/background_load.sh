#!/usr/bin/env bash
# Keeps the machine busy for at most SECONDS (default 900): a gateway that lets every terminal
# in, driven by the simulator as fast as acknowledgements allow (about one core each), in
# back-to-back runs of at most 60 s, all on loopback. It stops by itself, or on SIGTERM/SIGINT.
# Used to show that the test suite passes on a loaded machine (docs/benchmarks.md):
#
#   scripts/background_load.sh 900 & load=$!
#   make test; make test; make test
#   kill $load
set -euo pipefail
cd "$(dirname "$0")/.."
limit=${1:-900}
jt808=.venv/bin/jt808
work=$(mktemp -d)
gateway=""
simulator=""
stop() {
    for pid in $simulator $gateway; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap stop EXIT
trap 'exit 0' TERM INT

read -r terminal_port grpc_port < <(.venv/bin/python -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1", 0)) for x in s]
print(*(x.getsockname()[1] for x in s))')
"$jt808" serve --auth insecure-accept-all --listen "127.0.0.1:$terminal_port" \
    --grpc-listen "127.0.0.1:$grpc_port" --data-dir "$work/data" --log-level error &
gateway=$!
end=$((SECONDS + limit))
while ((SECONDS < end)); do
    run=$((end - SECONDS < 60 ? end - SECONDS : 60))
    "$jt808" simulate --server "127.0.0.1:$terminal_port" --terminals 50 --rate 0 --window 8 \
        --duration "$run" --quiet >/dev/null 2>&1 &
    simulator=$!
    wait "$simulator" || true
    simulator=""
done
