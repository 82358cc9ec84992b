#!/usr/bin/env bash
# The load test of docs/serve.md: `xtask bench --batch 32` on the same weights before and
# after, and between them a `cargo xtask serve` on 127.0.0.1 under 1, 8 and 64 concurrent
# clients sending text, then image, embeddings requests. One JSON line per measurement.
#
#   scripts/serve-load-test.sh WEIGHTS IMAGE [PORT] > results.jsonl
#
# Bounded: 127.0.0.1 only, 20 s at concurrency 1 and 8, 30 s at 64.
set -euo pipefail
cd "$(dirname "$0")/.."
weights=${1:?usage: serve-load-test.sh WEIGHTS IMAGE [PORT]}
image=${2:?usage: serve-load-test.sh WEIGHTS IMAGE [PORT]}
port=${3:-8097}

cargo build -q -p xtask
cargo build -q -p clip-serve --example load_test
xtask=target/debug/xtask
load=target/debug/examples/load_test

"$xtask" bench --weights "$weights" --batch 32 --seconds 20
"$xtask" serve --weights "$weights" --addr "127.0.0.1:$port" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.2
done
for kind in text image; do
    "$load" --addr "127.0.0.1:$port" --pid "$server" --kind "$kind" --image "$image" \
        --concurrency 1,8 --seconds 20
    "$load" --addr "127.0.0.1:$port" --pid "$server" --kind "$kind" --image "$image" \
        --concurrency 64 --seconds 30
done
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^clip_batch_rows_(sum|count)' | sed 's/^/# /'
kill $server
wait $server 2>/dev/null || true
trap - EXIT
"$xtask" bench --weights "$weights" --batch 32 --seconds 20
