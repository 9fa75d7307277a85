#!/bin/bash
# Device run 22: streamed GPU decode after two changes to the streamed MoE block: an expert
# that every row goes to (each routed expert of a decode step) reads x itself, without a
# gathered copy (and its int8 blocks are reused), and the next layer's prefetch guess is read
# back with the layer's own routing (`Backend::softmax_topk_many`, one wait per layer, not two).
# Streamed decode as runs 17 and 20-21 (twice), without prefetch hints, then resident decode as
# a check that it did not move. Needs `.gl` and `.devbin/f` carried (setup.sh); writes
# bench.txt to $OUT. The figures in docs/performance.md come from this run.
source xtask/device/setup.sh
synth_q30
streamed_rounds 1 "$B/floe|" "$B/floe|" "$B/floe|--no-prefetch"
resident_decodes 2
echo "== streamed --gpu-profile" >> $OUT/bench.txt
timeout 90 $B/floe bench /tmp/m/q30 $STREAMED --gpu-profile 2>&1 | tee -a $OUT/bench.txt | sed -n '/gpu profile/,$p' | head -16
