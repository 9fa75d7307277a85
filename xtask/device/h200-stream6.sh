#!/bin/bash
# Device run 25: streamed GPU decode (as runs 22-24) with `HEAD`'s cadence (submit after 16
# dispatches once experts stream, `WgpuOptions::streamed_pending_dispatches`) against the
# binary of commit 9ba9160 (`.devbin/old/floe`, 64 throughout) and that binary with
# --gpu-submit-after 16, alternating on one machine; then resident decode with `HEAD` (64
# there). Needs `.gl`, `.devbin/f` and `.devbin/old` carried (setup.sh); writes bench.txt.
source xtask/device/setup.sh
synth_q30
streamed_rounds 2 "$B/floe|" ".devbin/old/floe|" ".devbin/old/floe|--gpu-submit-after 16"
resident_decodes 2
