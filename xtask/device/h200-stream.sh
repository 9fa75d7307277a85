#!/bin/bash
# Device run 17: streamed decode on the GPU at `HEAD` (experts read from disk through the RAM
# cache, uploaded into the VRAM expert cache), with f32 and int8 activations. Needs `.gl` and
# `.devbin/f` carried (setup.sh); writes its logs to $OUT. The figures in docs/performance.md
# come from this run.
source xtask/device/setup.sh
synth_q30
S="--backend wgpu --gpu-expert-cache 2048 --cache-budget 4G --direct --prompt-tokens 16 --tokens 48"
timeout 90 $B/floe bench /tmp/m/q30 $S 2>&1 | tee $OUT/bench_stream.txt | tail -9
timeout 90 $B/floe bench /tmp/m/q30 $S --gpu-int8-activations 2>&1 | tee $OUT/bench_stream_int8.txt | tail -9
