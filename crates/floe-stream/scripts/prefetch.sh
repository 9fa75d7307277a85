#!/usr/bin/env bash
# Prefetch from hints (the replay's predictor of the given accuracy) with 200 µs of simulated
# compute per expert, LFU-aging cache of 1 GiB, trace routing, pread×16, inside a 1400 MiB cgroup.
# Run from the workspace root after policies.sh has written the trace.
set -eu
BIN=${BIN:-target/release/examples/stream_blobs}
CK=${CK:-/tmp/q30-l12}
TRACE=${TRACE:-/tmp/q30-trace.jsonl}
run() { /work/shared/tools/memcap 1400M $BIN --checkpoint $CK --engines pread --threads 16 --io direct \
     --policy lfu-aging --cache-budget 1GiB --routing trace:$TRACE --warmup 64 --tokens 128 \
     --compute-us 200 --hint-accuracy $1 --drop-caches 2>&1 | tail -2 | head -1; }
for round in 1 2; do
  for acc in 0 0.6 1.0; do echo "round $round accuracy $acc: $(run $acc)"; done
done
