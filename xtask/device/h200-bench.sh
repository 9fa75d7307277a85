#!/bin/bash
# Device run 3 (final): kernels, ceilings, overheads, tuning, selected products, resident and
# streamed decode of the qwen3-30b-a3b q4 preset. Run from the repo root.
# Copied to the device machine with `.gl` (the Vulkan loader .debs, see ../shared/gpu.md) and
# `.devbin/f` (stripped release builds of `floe` and the `gpu_bench` example); writes its logs to
# $OUT. The figures in docs/performance.md come from these runs.
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
B=${FLOE_DEVICE_BIN:-.devbin/f}
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem --format=csv,noheader
mkdir -p /tmp/m
( $B/floe synth --preset qwen3-30b-a3b --quant q4 --no-tokenizer /tmp/m/q30 > $OUT/synth.txt 2>&1 ) &
SYNTH=$!
timeout 150 $B/gpu_bench --tune > $OUT/gpu_bench.txt 2>&1
grep -E "^(adapter|using|copy ceiling|round trip|Error)" $OUT/gpu_bench.txt; sed -n '/^summary/,$p' $OUT/gpu_bench.txt
grep '^tune' $OUT/gpu_bench.txt > $OUT/tune.txt
for f in q4 q2 q8_0 f16 bf16 affine8-g64-bf16; do grep "tune *$f " $OUT/tune.txt | sort -k10 -n -r | head -2; done
wait $SYNTH
timeout 60 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 16 --tokens 64 --json 2>&1 | tee $OUT/bench_resident.json
timeout 50 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 16 --tokens 32 2>&1 | tee $OUT/bench_resident.txt
timeout 60 $B/floe bench /tmp/m/q30 --backend wgpu --gpu-expert-cache 2048 --cache-budget 4G --direct --prompt-tokens 16 --tokens 48 2>&1 | tee $OUT/bench_stream.txt
timeout 45 $B/floe bench /tmp/m/q30 --backend cpu --resident-experts --prompt-tokens 16 --tokens 16 2>&1 | tee $OUT/bench_cpu_resident.txt
