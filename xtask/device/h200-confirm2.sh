#!/bin/bash
# Device run 10: the default shapes chosen from runs 6-9 (large matrices: the tuned shape;
# small ones: the fastest dependent chain) and the reused int8 quantization of x, in
# `gpu_bench` (no sweep), then resident decode alternating f32 and int8 activations.
# Copied to the device machine with `.gl` (the Vulkan loader .debs, see ../shared/gpu.md) and
# `.devbin/f` (stripped release builds of `floe` and the `gpu_bench` example); writes its logs to
# $OUT. The figures in docs/performance.md come from these runs.
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
B=${FLOE_DEVICE_BIN:-.devbin/f}
mkdir -p /tmp/m
( $B/floe synth --preset qwen3-30b-a3b --quant q4 --no-tokenizer /tmp/m/q30 > $OUT/synth.txt 2>&1 ) &
SYNTH=$!
timeout 150 $B/gpu_bench > $OUT/gpu_bench.txt 2>&1
grep -E "^(copy ceiling|round trip|Error)" $OUT/gpu_bench.txt
sed -n '/^summary/,$p' $OUT/gpu_bench.txt
wait $SYNTH
R="--backend wgpu --resident-experts --prompt-tokens 16 --tokens 64"
for i in 1 2; do
  timeout 40 $B/floe bench /tmp/m/q30 $R 2>&1 | tee $OUT/bench_resident_$i.txt | grep -E "decode:"
  timeout 40 $B/floe bench /tmp/m/q30 $R --gpu-int8-activations 2>&1 | tee $OUT/bench_resident_int8_$i.txt | grep -E "decode:"
done
