#!/bin/bash
# Device run 24: streamed GPU decode (as runs 22-23) with the MoE block flushing recorded work
# after each expert (`Backend::flush`), against the binary before it (`.devbin/old/floe`,
# commit 9ba9160) at the default cadence and at --gpu-submit-after 16, alternating, on one
# machine; then resident decode with the new binary (which never flushes there). Needs `.gl`,
# `.devbin/f` and `.devbin/old` carried (setup.sh); writes bench.txt to $OUT.
source xtask/device/setup.sh
synth_q30
streamed_rounds 2 "$B/floe|" ".devbin/old/floe|" ".devbin/old/floe|--gpu-submit-after 16" "$B/floe|--gpu-submit-after 16"
resident_decodes 1
