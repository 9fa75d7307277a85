#!/bin/bash
# Device run 5: where a resident decode token's GPU time goes (--gpu-profile).
# Needs `.gl` and `.devbin/f` carried (setup.sh); writes its logs to $OUT. The figures in
# docs/performance.md come from these runs.
source xtask/device/setup.sh
synth_q30
timeout 40 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 1 --tokens 32 --gpu-profile 2>&1 | tee $OUT/bench_profile.txt
timeout 30 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 1 --tokens 32 2>&1 | tee $OUT/bench_plain.txt
