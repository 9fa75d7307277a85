#!/bin/bash
# Device run 23: streamed GPU decode (as run 22) submitting recorded work after 64 (the
# default), 16 and 5 dispatches, so that the GPU runs a layer's experts while the CPU still
# fetches and records the rest of them. Needs `.gl` and `.devbin/f` carried (setup.sh); writes
# bench.txt to $OUT.
source xtask/device/setup.sh
synth_q30
S="--backend wgpu --gpu-expert-cache 2048 --cache-budget 4G --direct --prompt-tokens 16 --tokens 48"
for n in 64 16 5 64 5 2; do
  echo "== streamed --gpu-submit-after $n" >> $OUT/bench.txt
  timeout 90 $B/floe bench /tmp/m/q30 $S --gpu-submit-after $n 2>&1 | tee -a $OUT/bench.txt | grep -E "decode"
done
