#!/bin/bash
# Device runs 18-19: attention with an online softmax in workgroup memory (no score scratch,
# no storage barrier), from run 19 split over ranges of positions at long contexts with a merge
# kernel; producers that write
# their f32 and int8 outputs from one computation (no storage barrier); centred 4-bit codes in
# the int8 kernel; int8 activations as the default. `gpu_bench` (default shapes, with the
# attention chain lines), then resident decode alternating the default (int8 x) and
# `--gpu-f32-activations` after one warm-up run, decodes after 512- and 2048-token prompts, a
# kernel profile of each activation mode, and a streamed decode as run 17's. Needs
# `.gl` and `.devbin/f` carried (setup.sh); writes gpu_bench.txt, bench.txt and profile.txt to
# $OUT. The figures in docs/performance.md come from these runs.
source xtask/device/setup.sh
gpu_bench_while_synth
R=$RESIDENT
timeout 40 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 16 --tokens 16 > /dev/null 2>&1
for i in 1 2 3; do
  echo "== default (int8 x) $i" >> $OUT/bench.txt
  timeout 40 $B/floe bench /tmp/m/q30 $R 2>&1 | tee -a $OUT/bench.txt | grep -E "decode:"
  echo "== --gpu-f32-activations $i" >> $OUT/bench.txt
  timeout 40 $B/floe bench /tmp/m/q30 $R --gpu-f32-activations 2>&1 | tee -a $OUT/bench.txt | grep -E "decode:"
done
for p in 512 2048; do
  echo "== default, prompt $p" >> $OUT/bench.txt
  timeout 60 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens $p --tokens 64 2>&1 | tee -a $OUT/bench.txt | grep -E "decode:"
done
P="--backend wgpu --resident-experts --prompt-tokens 1 --tokens 32 --gpu-profile"
echo "== default" >> $OUT/profile.txt
timeout 40 $B/floe bench /tmp/m/q30 $P 2>&1 | tee -a $OUT/profile.txt | sed -n '/kernel /,$p' | head -12
echo "== --gpu-f32-activations" >> $OUT/profile.txt
timeout 40 $B/floe bench /tmp/m/q30 $P --gpu-f32-activations 2>&1 | tee -a $OUT/profile.txt | sed -n '/kernel /,$p' | head -12
echo "== default, prompt 2048" >> $OUT/profile.txt
timeout 60 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 2048 --tokens 16 --gpu-profile 2>&1 | tee -a $OUT/profile.txt | sed -n '/kernel /,$p' | head -8
S=$STREAMED
echo "== streamed, default" >> $OUT/bench.txt
timeout 90 $B/floe bench /tmp/m/q30 $S 2>&1 | tee -a $OUT/bench.txt | grep -E "decode:|hit"
