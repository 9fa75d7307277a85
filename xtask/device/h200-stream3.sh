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
S="--backend wgpu --gpu-expert-cache 2048 --cache-budget 4G --direct --prompt-tokens 16 --tokens 48"
for f in "" "" "--no-prefetch"; do
  echo "== streamed $f" >> $OUT/bench.txt
  timeout 90 $B/floe bench /tmp/m/q30 $S $f 2>&1 | tee -a $OUT/bench.txt | grep -E "decode|hit rate [0-9]"
done
R="--backend wgpu --resident-experts --prompt-tokens 16 --tokens 64"
timeout 40 $B/floe bench /tmp/m/q30 $R --tokens 16 > /dev/null 2>&1
for i in 1 2; do
  echo "== resident default $i" >> $OUT/bench.txt
  timeout 40 $B/floe bench /tmp/m/q30 $R 2>&1 | tee -a $OUT/bench.txt | grep -E "decode:"
done
echo "== streamed --gpu-profile" >> $OUT/bench.txt
timeout 90 $B/floe bench /tmp/m/q30 $S --gpu-profile 2>&1 | tee -a $OUT/bench.txt | sed -n '/gpu profile/,$p' | head -16
