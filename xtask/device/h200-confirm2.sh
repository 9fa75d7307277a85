#!/bin/bash
# Device run 10: the default shapes chosen from runs 6-9 (large matrices: the tuned shape;
# small ones: the fastest dependent chain) and the reused int8 quantization of x, in
# `gpu_bench` (no sweep), then resident decode alternating f32 and int8 activations.
# Needs `.gl` and `.devbin/f` carried (setup.sh); writes its logs to $OUT. The figures in
# docs/performance.md come from these runs.
source xtask/device/setup.sh
gpu_bench_while_synth
R="--backend wgpu --resident-experts --prompt-tokens 16 --tokens 64"
for i in 1 2; do
  timeout 40 $B/floe bench /tmp/m/q30 $R 2>&1 | tee $OUT/bench_resident_$i.txt | grep -E "decode:"
  timeout 40 $B/floe bench /tmp/m/q30 $R --gpu-int8-activations 2>&1 | tee $OUT/bench_resident_int8_$i.txt | grep -E "decode:"
done
