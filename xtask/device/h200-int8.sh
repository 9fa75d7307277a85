#!/bin/bash
# Device run 8: default shapes and decodings after runs 6-7, the int8-activation kernels
# (`gpu_bench --tune-formats q4,q8_0` sweeps them as "Int8"), resident decode with f32 and int8
# activations (submitting every 64 dispatches, the new default), its profile, and streamed
# decode with the VRAM expert cache.
# Copied to the device machine with `.gl` (the Vulkan loader .debs, see ../shared/gpu.md) and
# `.devbin/f` (stripped release builds of `floe` and the `gpu_bench` example); writes its logs to
# $OUT. The figures in docs/performance.md come from these runs.
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
B=${FLOE_DEVICE_BIN:-.devbin/f}
mkdir -p /tmp/m
( $B/floe synth --preset qwen3-30b-a3b --quant q4 --no-tokenizer /tmp/m/q30 > $OUT/synth.txt 2>&1 ) &
SYNTH=$!
timeout 200 $B/gpu_bench ${GPU_BENCH_ARGS:---tune-formats q4,q8_0} > $OUT/gpu_bench.txt 2>&1
grep -E "^(copy ceiling|round trip|Error)" $OUT/gpu_bench.txt
grep "^tune" $OUT/gpu_bench.txt | awk '{fmt=$2; dec=$3; gbs=$NF+0; if (gbs > best[fmt" "dec]+0) {best[fmt" "dec]=gbs; line[fmt" "dec]=$0}} END {for (k in line) print line[k]}' | sort
sed -n '/^summary/,$p' $OUT/gpu_bench.txt
wait $SYNTH
R="--backend wgpu --resident-experts --prompt-tokens 16 --tokens 64"
timeout 40 $B/floe bench /tmp/m/q30 $R 2>&1 | tee $OUT/bench_resident.txt | grep -E "decode|prefill"
timeout 40 $B/floe bench /tmp/m/q30 $R --gpu-int8-activations 2>&1 | tee $OUT/bench_resident_int8.txt | grep -E "decode|prefill"
timeout 40 $B/floe bench /tmp/m/q30 $R 2>&1 | tee $OUT/bench_resident_again.txt | grep -E "decode|prefill"
timeout 40 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 1 --tokens 32 --gpu-profile 2>&1 | tee $OUT/bench_profile.txt | tail -16
timeout 60 $B/floe bench /tmp/m/q30 --backend wgpu --gpu-expert-cache 2048 --cache-budget 4G --direct --prompt-tokens 16 --tokens 48 2>&1 | tee $OUT/bench_stream.txt | tail -8
