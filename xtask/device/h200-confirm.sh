#!/bin/bash
# Device run 4: the tuned default shapes, dependent-dispatch cost, resident decode.
# Copied to the device machine with `.gl` (the Vulkan loader .debs, see ../shared/gpu.md) and
# `.devbin/f` (stripped release builds of `floe` and the `gpu_bench` example); writes its logs to
# $OUT. The figures in docs/performance.md come from these runs.
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
B=${FLOE_DEVICE_BIN:-.devbin/f}
mkdir -p /tmp/m
( $B/floe synth --preset qwen3-30b-a3b --quant q4 --no-tokenizer /tmp/m/q30 > $OUT/synth.txt 2>&1 ) &
SYNTH=$!
timeout 60 $B/gpu_bench > $OUT/gpu_bench.txt 2>&1
grep -E "^(copy ceiling|round trip|Error)" $OUT/gpu_bench.txt; sed -n '/^summary/,$p' $OUT/gpu_bench.txt | grep -E "T=1|selected|dense|summary"
wait $SYNTH
timeout 40 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 16 --tokens 64 --json 2>&1 | tee $OUT/bench_resident.json
timeout 30 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 16 --tokens 32 2>&1 | tee $OUT/bench_resident.txt
