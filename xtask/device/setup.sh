# Sourced by the h200-*.sh device scripts: installs the Vulkan loader and glvnd from `.gl` (the
# .debs, see ../shared/gpu.md), points the loader at the NVIDIA driver, sets B to the carried
# binaries (`.devbin/f`: stripped release builds of `floe` and the `gpu_bench` example), and
# defines `synth_q30` (writes the qwen3-30b-a3b q4 preset to /tmp/m/q30) and `best_tunes` (the
# fastest line per format and decoding of a `gpu_bench --tune` log).
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
B=${FLOE_DEVICE_BIN:-.devbin/f}
mkdir -p /tmp/m
synth_q30() {
    $B/floe synth --preset qwen3-30b-a3b --quant q4 --no-tokenizer /tmp/m/q30 > $OUT/synth.txt 2>&1
}
best_tunes() {
    grep "^tune" "$1" | awk '{fmt=$2; dec=$3; gbs=$NF+0; if (gbs > best[fmt" "dec]+0) {best[fmt" "dec]=gbs; line[fmt" "dec]=$0}} END {for (k in line) print line[k]}' | sort
}
