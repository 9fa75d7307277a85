#!/bin/bash
# Device run 7: one-token kernels with up to 8 rows per invocation and the new default shapes
# (`gpu_bench --tune-formats`), then resident decode at several submit sizes, with the profile.
# Copied to the device machine with `.gl` (the Vulkan loader .debs, see ../shared/gpu.md) and
# `.devbin/f` (stripped release builds of `floe` and the `gpu_bench` example); writes its logs to
# $OUT. The figures in docs/performance.md come from these runs.
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
B=${FLOE_DEVICE_BIN:-.devbin/f}
mkdir -p /tmp/m
( $B/floe synth --preset qwen3-30b-a3b --quant q4 --no-tokenizer /tmp/m/q30 > $OUT/synth.txt 2>&1 ) &
SYNTH=$!
timeout 200 $B/gpu_bench ${GPU_BENCH_ARGS:---tune-formats q4,q8_0,affine8-g64-bf16} > $OUT/gpu_bench.txt 2>&1
grep -E "^(copy ceiling|round trip|Error)" $OUT/gpu_bench.txt
grep "^tune" $OUT/gpu_bench.txt | awk '{fmt=$2; dec=$3; gbs=$NF+0; if (gbs > best[fmt" "dec]+0) {best[fmt" "dec]=gbs; line[fmt" "dec]=$0}} END {for (k in line) print line[k]}' | sort
sed -n '/^summary/,$p' $OUT/gpu_bench.txt
wait $SYNTH
for n in 2048 256 64; do
  echo "== --gpu-submit-after $n"
  timeout 40 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 16 --tokens 64 --gpu-submit-after $n 2>&1 | tee $OUT/bench_resident_$n.txt | grep -E "decode|prefill"
done
timeout 40 $B/floe bench /tmp/m/q30 --backend wgpu --resident-experts --prompt-tokens 1 --tokens 32 --gpu-profile 2>&1 | tee $OUT/bench_profile.txt | tail -16
