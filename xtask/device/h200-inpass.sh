#!/bin/bash
# Built at commit 9cc58a8 (its timestamps-inside-passes profiler and --gpu-profile-own-passes
# were reverted after run 21: on the H200 that profiler charged each dispatch ~2.3 us more).
# Device run 20: the kernel profile with timestamps inside the shared compute passes (each
# dispatch charged what it adds to the stream: launch, barrier, work), against the earlier
# pass-per-dispatch profile (`--gpu-profile-own-passes`), at `HEAD`'s kernels. `gpu_bench`
# (default shapes), resident decode alternating the default (int8 x) and
# `--gpu-f32-activations` after one warm-up run, a decode after a 2048-token prompt, the
# profiles, then a streamed decode as run 17's. Needs `.gl` and `.devbin/f` carried
# (setup.sh); writes gpu_bench.txt, bench.txt and profile.txt to $OUT. The figures in
# docs/performance.md ("Run 20") come from this run.
source xtask/device/setup.sh
gpu_bench_while_synth
R=$RESIDENT
timeout 40 $B/floe bench /tmp/m/q30 $R --tokens 16 > /dev/null 2>&1
for i in 1 2; do
  echo "== default (int8 x) $i" >> $OUT/bench.txt
  timeout 40 $B/floe bench /tmp/m/q30 $R 2>&1 | tee -a $OUT/bench.txt | grep -E "decode:"
  echo "== --gpu-f32-activations $i" >> $OUT/bench.txt
  timeout 40 $B/floe bench /tmp/m/q30 $R --gpu-f32-activations 2>&1 | tee -a $OUT/bench.txt | grep -E "decode:"
done
echo "== default, prompt 2048" >> $OUT/bench.txt
timeout 60 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 2048 --tokens 64 2>&1 | tee -a $OUT/bench.txt | grep -E "decode:"
P="--backend wgpu --resident-experts --prompt-tokens 1 --tokens 32 --gpu-profile"
for f in "" "--gpu-f32-activations" "--gpu-profile-own-passes"; do
  echo "== profile $f" >> $OUT/profile.txt
  timeout 40 $B/floe bench /tmp/m/q30 $P $f 2>&1 | tee -a $OUT/profile.txt | sed -n '/gpu profile/,$p' | head -8
done
echo "== profile, prompt 2048" >> $OUT/profile.txt
timeout 60 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 2048 --tokens 16 --gpu-profile 2>&1 | tee -a $OUT/profile.txt | sed -n '/gpu profile/,$p' | head -8
S=$STREAMED
echo "== streamed, default" >> $OUT/bench.txt
timeout 90 $B/floe bench /tmp/m/q30 $S 2>&1 | tee -a $OUT/bench.txt | grep -E "decode:|hit"
