#!/bin/bash
# Device run 25: streamed GPU decode (as runs 22-24) with `HEAD`'s cadence (submit after 16
# dispatches once experts stream, `WgpuOptions::streamed_pending_dispatches`) against the
# binary of commit 9ba9160 (`.devbin/old/floe`, 64 throughout) and that binary with
# --gpu-submit-after 16, alternating on one machine; then resident decode with `HEAD` (64
# there). Needs `.gl`, `.devbin/f` and `.devbin/old` carried (setup.sh); writes bench.txt.
source xtask/device/setup.sh
synth_q30
S="--backend wgpu --gpu-expert-cache 2048 --cache-budget 4G --direct --prompt-tokens 16 --tokens 48"
for i in 1 2; do
  for run in "$B/floe|" ".devbin/old/floe|" ".devbin/old/floe|--gpu-submit-after 16"; do
    bin=${run%%|*}; extra=${run#*|}
    echo "== streamed: $bin $extra" >> $OUT/bench.txt
    timeout 90 $bin bench /tmp/m/q30 $S $extra 2>&1 | tee -a $OUT/bench.txt | grep -E "decode"
  done
done
R="--backend wgpu --resident-experts --prompt-tokens 16 --tokens 64"
timeout 40 $B/floe bench /tmp/m/q30 $R --tokens 16 > /dev/null 2>&1
for i in 1 2; do
  echo "== resident default" >> $OUT/bench.txt
  timeout 40 $B/floe bench /tmp/m/q30 $R 2>&1 | tee -a $OUT/bench.txt | grep -E "decode:"
done
