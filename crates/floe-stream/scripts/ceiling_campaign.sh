#!/usr/bin/env bash
# Alternates fio's O_DIRECT random-read ceiling (/work/shared/tools/disk-ceiling) with
# floe-stream's expert reads (examples/stream_blobs) at the same blob size and queue depth,
# everything inside a 1 GiB memory cgroup (/work/shared/tools/memcap), ROUNDS rounds per depth.
set -eu
CK=${CK:-/tmp/q30-l12}
FILES=$(ls $CK/experts-*.bin | paste -sd:)
BLOB=$(python3 -c "import json; print(json.load(open('$CK/manifest.json'))['expert_layers'][0]['blob_length'])")
BIN=${BIN:-target/release/examples/stream_blobs}
for qd in ${QDS:-8 4}; do
  for round in $(seq ${ROUNDS:-6}); do
    fio_bw=$(/work/shared/tools/memcap 1G /work/shared/tools/disk-ceiling "$FILES" $BLOB $qd 8 2>/dev/null)
    echo "qd$qd round $round fio $(python3 -c "print(round($fio_bw/1e9,3))")"
    /work/shared/tools/memcap 1G $BIN --checkpoint $CK --engines io_uring,pread --io direct --qd $qd --threads $qd --tokens 32 --seed $round 2>/dev/null \
      | tail -2 | sed "s/^/qd$qd round $round /"
  done
done
