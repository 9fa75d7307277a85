#!/bin/bash
# Device run 7: one-token kernels with up to 8 rows per invocation and the new default shapes
# (`gpu_bench --tune-formats`), then resident decode at several submit sizes, with the profile.
# Needs `.gl` and `.devbin/f` carried (setup.sh); writes its logs to $OUT. The figures in
# docs/performance.md come from these runs.
source xtask/device/setup.sh
synth_q30 &
SYNTH=$!
timeout 200 $B/gpu_bench ${GPU_BENCH_ARGS:---tune-formats q4,q8_0,affine8-g64-bf16} > $OUT/gpu_bench.txt 2>&1
grep -E "^(copy ceiling|round trip|Error)" $OUT/gpu_bench.txt
best_tunes $OUT/gpu_bench.txt
sed -n '/^summary/,$p' $OUT/gpu_bench.txt
wait $SYNTH
for n in 2048 256 64; do
  echo "== --gpu-submit-after $n"
  timeout 40 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 16 --tokens 64 --gpu-submit-after $n 2>&1 | tee $OUT/bench_resident_$n.txt | grep -E "decode|prefill"
done
timeout 40 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 1 --tokens 32 --gpu-profile 2>&1 | tee $OUT/bench_profile.txt | tail -16
