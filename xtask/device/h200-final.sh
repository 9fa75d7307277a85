#!/bin/bash
# Device run 9: `gpu_bench --tune-formats q4,q8_0` with every timed batch submitted at once
# (run 8's int8 and selected timings were not), the chain of dependent decode-sized products
# and its shape sweep, then resident decode alternating f32 and int8 activations, twice each.
# Needs `.gl` and `.devbin/f` carried (setup.sh); writes its logs to $OUT. The figures in
# docs/performance.md come from these runs.
source xtask/device/setup.sh
synth_q30 &
SYNTH=$!
timeout 220 $B/gpu_bench ${GPU_BENCH_ARGS:---tune-formats q4,q8_0} > $OUT/gpu_bench.txt 2>&1
grep -E "^(copy ceiling|round trip|Error)" $OUT/gpu_bench.txt
best_tunes $OUT/gpu_bench.txt
grep "^chain tune" $OUT/gpu_bench.txt | sort -t' ' -k3,3 -s | awk '{k=$3; t=$(NF-1)+0; if (!(k in best) || t < best[k]) {best[k]=t; line[k]=$0}} END {for (k in line) print line[k]}'
sed -n '/^summary/,$p' $OUT/gpu_bench.txt
wait $SYNTH
R="--backend wgpu --resident-experts --prompt-tokens 16 --tokens 64"
for i in 1 2; do
  timeout 40 $B/floe bench /tmp/m/q30 $R 2>&1 | tee $OUT/bench_resident_$i.txt | grep -E "decode:"
  timeout 40 $B/floe bench /tmp/m/q30 $R --gpu-int8-activations 2>&1 | tee $OUT/bench_resident_int8_$i.txt | grep -E "decode:"
done
timeout 40 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 1 --tokens 32 --gpu-profile --gpu-int8-activations 2>&1 | tee $OUT/bench_profile_int8.txt | tail -14
