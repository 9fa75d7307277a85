#!/bin/bash
# Device run 3 (final): kernels, ceilings, overheads, tuning, selected products, resident and
# streamed decode of the qwen3-30b-a3b q4 preset. Run from the repo root.
# Needs `.gl` and `.devbin/f` carried (setup.sh); writes its logs to $OUT. The figures in
# docs/performance.md come from these runs.
source xtask/device/setup.sh
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem --format=csv,noheader
synth_q30 &
SYNTH=$!
timeout 150 $B/gpu_bench --tune > $OUT/gpu_bench.txt 2>&1
grep -E "^(adapter|using|copy ceiling|round trip|Error)" $OUT/gpu_bench.txt; sed -n '/^summary/,$p' $OUT/gpu_bench.txt
grep '^tune' $OUT/gpu_bench.txt > $OUT/tune.txt
for f in q4 q2 q8_0 f16 bf16 affine8-g64-bf16; do grep "tune *$f " $OUT/tune.txt | sort -k10 -n -r | head -2; done
wait $SYNTH
timeout 60 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 16 --tokens 64 --json 2>&1 | tee $OUT/bench_resident.json
timeout 50 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 16 --tokens 32 2>&1 | tee $OUT/bench_resident.txt
timeout 60 $B/floe bench /tmp/m/q30 --backend wgpu --gpu-expert-cache 2048 --cache-budget 4G --direct --prompt-tokens 16 --tokens 48 2>&1 | tee $OUT/bench_stream.txt
timeout 45 $B/floe bench /tmp/m/q30 --backend cpu --resident-experts --prompt-tokens 16 --tokens 16 2>&1 | tee $OUT/bench_cpu_resident.txt
