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
# `gpu_bench` (default shapes) to $OUT/gpu_bench.txt while `synth_q30` writes the model; prints
# the ceilings and the summary, and returns once both are done.
gpu_bench_while_synth() {
    synth_q30 &
    local synth=$!
    timeout 150 $B/gpu_bench > $OUT/gpu_bench.txt 2>&1
    grep -E "^(copy ceiling|round trip|Error)" $OUT/gpu_bench.txt
    sed -n '/^summary/,$p' $OUT/gpu_bench.txt
    wait $synth
}
# `floe bench` arguments: resident decode, and streamed decode through a 2 GiB VRAM and a
# 4 GiB RAM expert cache with O_DIRECT reads.
RESIDENT="--backend wgpu --resident-experts --prompt-tokens 16 --tokens 64"
STREAMED="--backend wgpu --gpu-expert-cache 2048 --cache-budget 4G --direct --prompt-tokens 16 --tokens 48"
# resident_decodes N: one warm-up run, then N resident decodes appended to $OUT/bench.txt.
resident_decodes() {
    timeout 40 $B/floe bench /tmp/m/q30 $RESIDENT --tokens 16 > /dev/null 2>&1
    for i in $(seq "$1"); do
        echo "== resident default $i" >> $OUT/bench.txt
        timeout 40 $B/floe bench /tmp/m/q30 $RESIDENT 2>&1 | tee -a $OUT/bench.txt | grep -E "decode:"
    done
}
# streamed_rounds N "BINARY|FLAGS" ...: N rounds of streamed decodes, one per binary and flags
# in each round (alternating, so all see the same machine), appended to $OUT/bench.txt.
streamed_rounds() {
    local rounds=$1 run bin extra
    shift
    for i in $(seq "$rounds"); do
        for run in "$@"; do
            bin=${run%%|*}; extra=${run#*|}
            echo "== streamed: $bin $extra" >> $OUT/bench.txt
            timeout 90 $bin bench /tmp/m/q30 $STREAMED $extra 2>&1 | tee -a $OUT/bench.txt | grep -E "decode"
        done
    done
}
