#!/bin/bash
# Device run 6: the full `gpu_bench --tune` sweep (workgroup shapes, rows per invocation, code
# decodings), then resident decode with and without the per-kernel profile.
# Needs `.gl` and `.devbin/f` carried (setup.sh); writes its logs to $OUT. The figures in
# docs/performance.md come from these runs.
source xtask/device/setup.sh
synth_q30 &
SYNTH=$!
timeout 240 $B/gpu_bench ${GPU_BENCH_ARGS:---tune} > $OUT/gpu_bench.txt 2>&1
grep -E "^(copy ceiling|round trip|Error)" $OUT/gpu_bench.txt
# The best shapes per format and decoding.
best_tunes $OUT/gpu_bench.txt
sed -n '/^summary/,$p' $OUT/gpu_bench.txt
wait $SYNTH
timeout 40 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 16 --tokens 64 2>&1 | tee $OUT/bench_resident.txt | tail -15
timeout 40 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 1 --tokens 32 --gpu-profile 2>&1 | tee $OUT/bench_profile.txt | tail -40
