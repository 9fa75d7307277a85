#!/bin/bash
# Device run 8: default shapes and decodings after runs 6-7, the int8-activation kernels
# (`gpu_bench --tune-formats q4,q8_0` sweeps them as "Int8"), resident decode with f32 and int8
# activations (submitting every 64 dispatches, the new default), its profile, and streamed
# decode with the VRAM expert cache.
# Needs `.gl` and `.devbin/f` carried (setup.sh); writes its logs to $OUT. The figures in
# docs/performance.md come from these runs.
source xtask/device/setup.sh
synth_q30 &
SYNTH=$!
timeout 200 $B/gpu_bench ${GPU_BENCH_ARGS:---tune-formats q4,q8_0} > $OUT/gpu_bench.txt 2>&1
grep -E "^(copy ceiling|round trip|Error)" $OUT/gpu_bench.txt
best_tunes $OUT/gpu_bench.txt
sed -n '/^summary/,$p' $OUT/gpu_bench.txt
wait $SYNTH
R="--backend wgpu --resident-experts --prompt-tokens 16 --tokens 64"
timeout 40 $B/floe bench /tmp/m/q30 $R 2>&1 | tee $OUT/bench_resident.txt | grep -E "decode|prefill"
timeout 40 $B/floe bench /tmp/m/q30 $R --gpu-int8-activations 2>&1 | tee $OUT/bench_resident_int8.txt | grep -E "decode|prefill"
timeout 40 $B/floe bench /tmp/m/q30 $R 2>&1 | tee $OUT/bench_resident_again.txt | grep -E "decode|prefill"
timeout 40 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 1 --tokens 32 --gpu-profile 2>&1 | tee $OUT/bench_profile.txt | tail -16
timeout 60 $B/floe bench /tmp/m/q30 --backend wgpu --gpu-expert-cache 2048 --cache-budget 4G --direct --prompt-tokens 16 --tokens 48 2>&1 | tee $OUT/bench_stream.txt | tail -8
