#!/bin/bash
# Built at commit 9cc58a8 (its timestamps-inside-passes profiler and --gpu-profile-own-passes
# were reverted after run 21: on the H200 that profiler charged each dispatch ~2.3 us more).
# Device run 21: where a streamed GPU decode token goes. Streamed decode as run 17's, then
# the same without prefetch hints (no second read-back of a routing per layer), with a kernel
# profile, and with an 8 GiB VRAM expert cache; then a resident profile after a 2048-token
# prompt with a timed pass per dispatch, against run 20's with timestamps inside passes.
# Needs `.gl` and `.devbin/f` carried (setup.sh); writes bench.txt and profile.txt to $OUT.
source xtask/device/setup.sh
synth_q30
S=$STREAMED
for f in "" "--no-prefetch" "--gpu-profile" "--gpu-expert-cache 8192"; do
  echo "== streamed $f" >> $OUT/bench.txt
  timeout 90 $B/floe bench /tmp/m/q30 $S $f 2>&1 | tee -a $OUT/bench.txt | grep -E "decode|hit rate [0-9]|gpu profile" -A0
done
sed -n '/gpu profile/,/^[a-z]/p' $OUT/bench.txt | head -24
echo "== resident, prompt 2048, own passes" >> $OUT/profile.txt
timeout 60 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 2048 --tokens 16 --gpu-profile --gpu-profile-own-passes 2>&1 | tee -a $OUT/profile.txt | sed -n '/gpu profile/,$p' | head -16
