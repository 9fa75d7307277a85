#!/usr/bin/env bash
# Cache policies and I/O modes on the same routing, inside a 1400 MiB memory cgroup: the RAM
# cache (when used) is 1 GiB; "none" with buffered I/O leaves the page cache as the only cache.
# Run from the workspace root after `cargo build --release --example stream_blobs --bin floe`.
set -eu
BIN=${BIN:-target/release/examples/stream_blobs}
CK=${CK:-/tmp/q30-l12}
TRACE=${TRACE:-/tmp/q30-trace.jsonl}
[ -f "$TRACE" ] || target/release/floe synth-trace --checkpoint "$CK" --tokens 256 --prompt-len 128 "$TRACE"
for routing in trace:$TRACE random; do
  echo "== routing $routing"
  /work/shared/tools/memcap 1400M $BIN --checkpoint $CK --engines pread --threads 8 --io direct \
     --policy none,lru,lfu-aging --cache-budget 1GiB --routing $routing --warmup 64 --tokens 128 --drop-caches 2>&1 | tail -4
  /work/shared/tools/memcap 1400M $BIN --checkpoint $CK --engines pread --threads 8 --io buffered \
     --policy none --routing $routing --warmup 64 --tokens 128 --drop-caches 2>&1 | tail -2
done
