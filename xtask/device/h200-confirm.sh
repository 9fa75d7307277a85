#!/bin/bash
# Device run 4: the tuned default shapes, dependent-dispatch cost, resident decode.
# Needs `.gl` and `.devbin/f` carried (setup.sh); writes its logs to $OUT. The figures in
# docs/performance.md come from these runs.
source xtask/device/setup.sh
synth_q30 &
SYNTH=$!
timeout 60 $B/gpu_bench > $OUT/gpu_bench.txt 2>&1
grep -E "^(copy ceiling|round trip|Error)" $OUT/gpu_bench.txt; sed -n '/^summary/,$p' $OUT/gpu_bench.txt | grep -E "T=1|selected|dense|summary"
wait $SYNTH
timeout 40 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 16 --tokens 64 --json 2>&1 | tee $OUT/bench_resident.json
timeout 30 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 16 --tokens 32 2>&1 | tee $OUT/bench_resident.txt
