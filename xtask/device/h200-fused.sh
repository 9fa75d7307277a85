#!/bin/bash
# Device runs 11-15: fused kernels (one attention kernel, the residual add fused into the next
# rms_norm, a router top-k of one scan and one workgroup arg-max per round) and int8 x written
# by the kernels that produce a product's input (rms_norm, attention, SwiGLU). `gpu_bench`
# (default shapes, with the "int8 normed" lines: rms_norm + product per step), then resident
# decode alternating f32 and int8 activations after one warm-up run, then a kernel profile of
# each. Needs `.gl` and `.devbin/f` carried (setup.sh); writes its logs to $OUT. The figures
# in docs/performance.md come from these runs.
source xtask/device/setup.sh
gpu_bench_while_synth
R="--backend wgpu --resident-experts --prompt-tokens 16 --tokens 64"
timeout 40 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 16 --tokens 16 > $OUT/bench_warmup.txt 2>&1
for i in 1 2 3; do
  timeout 40 $B/floe bench /tmp/m/q30 $R 2>&1 | tee $OUT/bench_resident_$i.txt | grep -E "decode:"
  timeout 40 $B/floe bench /tmp/m/q30 $R --gpu-int8-activations 2>&1 | tee $OUT/bench_resident_int8_$i.txt | grep -E "decode:"
done
P="--backend wgpu --resident-experts --prompt-tokens 1 --tokens 32 --gpu-profile"
timeout 40 $B/floe bench /tmp/m/q30 $P 2>&1 | tee $OUT/bench_profile.txt | tail -16
timeout 40 $B/floe bench /tmp/m/q30 $P --gpu-int8-activations 2>&1 | tee $OUT/bench_profile_int8.txt | tail -16
