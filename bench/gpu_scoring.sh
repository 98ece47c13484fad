#!/usr/bin/env bash
# Issue 21's GPU figures in one run of at most ~8 minutes on one H100/H200; each stage is skipped, and says so,
# once the budget is spent.
#   1. bench/fid_parts.py at 50k samples: FID + KID before (torch-fidelity's loop) and after (harness/eval/features.py),
#      part by part, and the whole score at fp32 / tf32 / bf16.
#   2. Scoring overlapped with training: the jobs $ONLY of $SUITE for $EPOCHS epochs as seed lanes (--seed-batch),
#      one unit at a time and then two units packed at once (--jobs-per-gpu 2: one unit's scoring runs while the
#      other trains), timed.
#      FULL=1 also runs the whole suite --seed-batch --jobs-per-gpu 4, timed end to end.
#   3. The opt-in extractor precisions' deviation from fp32 on CIFAR-10: a trained generator of stage 2 re-scored
#      under fid10k-train and fid50k-train at fp32, tf32 and bf16 (`harness score`).
# Writes Markdown to $DEST (results/bench/<date>-<gpu>-scoring.md); runs and caches go outside the synced tree.
#
# On the device machine (its Python has torch, accelerate, pandas, ...; not torch-fidelity): `bash
# bench/device_carry.sh` here lays out .device/part1..3 (torch-fidelity's wheel, CIFAR-10, the Inception weights in
# three pieces); carry one part a call, the machine staying warm between calls, and in the third:
#   cp -r .device/part3/. /tmp/dev/ && . bench/device_setup.sh && DEVICE=cuda bash bench/gpu_scoring.sh
# It writes under $OUT, so its figures come back (about 8 minutes; timeout_s 600); commit them under results/bench/.
# On a CPU, the same path at smoke size (a check of the script, not of the numbers):
#   DEVICE=cpu SAMPLES=8 SUITE=suites/smoke.yaml ONLY='dcgan*' PROTOCOLS="fid64-train fid64-train-bf16" \
#     BUDGET=900 bash bench/gpu_scoring.sh
set -euo pipefail
DEVICE=${DEVICE:-cuda}
SAMPLES=${SAMPLES:-50000}
SUITE=${SUITE:-suites/cifar_gpu.yaml}
ONLY=${ONLY:-[dw]*gan_*}  # dcgan and wgan: two units of three seed lanes
EPOCHS=${EPOCHS:-3}  # stage 2's epochs: enough to train, few enough that scoring is a visible share
PROTOCOLS=${PROTOCOLS:-fid10k-train fid10k-train-tf32 fid10k-train-bf16 fid50k-train fid50k-train-tf32 fid50k-train-bf16}
BUDGET=${BUDGET:-480}  # seconds for the whole script
WORK=${WORK:-/tmp/gpu-scoring}
export HARNESS_CACHE=${HARNESS_CACHE:-$WORK/cache}
gpu=$(python3 -c "import re, torch; m = torch.cuda.is_available() and re.search(r'[A-Z]+[0-9]+', torch.cuda.get_device_name())
print(m.group().lower() if m else 'gpu' if torch.cuda.is_available() else 'cpu')")  # NVIDIA H100 80GB HBM3 -> h100
# Under $OUT when the device tool gave one: what is there comes back even if the run is cut off at its limit.
DEST=${DEST:-${OUT:-results/bench}/$(date +%F)-$gpu-scoring.md}
mkdir -p "$WORK" "$(dirname "$DEST")"
begin=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - begin) )); }
note() { echo "$*" | tee -a "$DEST"; }
timed() {  # timed LABEL COMMAND...: runs it, notes its wall time
  local label=$1 t0; shift
  t0=$(date +%s)
  "$@" >"$WORK/last.log" 2>&1 || { tail -n 20 "$WORK/last.log"; note "| $label | failed |"; return 1; }
  note "| $label | $(( $(date +%s) - t0 )) |"
}

echo "# Scoring on the GPU: issue 21's figures ($gpu, $(date +%F))" >"$DEST"
note ""
note "Command: \`DEVICE=$DEVICE SAMPLES=$SAMPLES SUITE=$SUITE ONLY='$ONLY' bash bench/gpu_scoring.sh\`"
note ""
if PYTHONUNBUFFERED=1 timeout "$(left)" python3 bench/fid_parts.py --device "$DEVICE" --samples "$SAMPLES" \
  --out "$WORK/fid_parts.md"; then tail -n +2 "$WORK/fid_parts.md" | sed 's/^# /## /' >>"$DEST"
else note "fid_parts.py failed or ran out of the budget"; fi

note ""
note "## Scoring overlapped with training: $SUITE, jobs $ONLY, $EPOCHS epochs, seed lanes"
note ""
note "| mode | wall seconds (train + score + report) |"
note "| --- | --- |"
run() {  # run RESULTS EXTRA...: the jobs, trained and scored, into RESULTS
  local results=$1; shift
  python3 -m harness.cli run "$SUITE" --only "$ONLY" --set "matrix.epochs=[$EPOCHS]" --device "$DEVICE" --seed-batch \
    --results "$results" "$@"
}
if [ "$(left)" -gt 120 ]; then
  timed "one unit at a time (--seed-batch)" run "$WORK/one" || true
else note "| one unit at a time | skipped: budget spent |"; fi
if [ "$(left)" -gt 120 ]; then
  timed "two units at once (--seed-batch --jobs-per-gpu 2)" run "$WORK/two" --jobs-per-gpu 2 || true
else note "| two units at once | skipped: budget spent |"; fi
if [ "${FULL:-0}" = 1 ] && [ "$(left)" -gt 240 ]; then
  timed "the whole suite (--seed-batch --jobs-per-gpu 4)" \
    python3 -m harness.cli run "$SUITE" --device "$DEVICE" --seed-batch --jobs-per-gpu 4 --results "$WORK/full" || true
fi

note ""
note "## Extractor precision: the same trained generator under each protocol"
note ""
note "| protocol | FID | KID | seconds |"
note "| --- | --- | --- | --- |"
suite_name=$(python3 -c "import sys; from harness.plan.suite import load_suite; print(load_suite(sys.argv[1]).name)" "$SUITE")
trained=$(ls -d "$WORK"/one/"$suite_name"/dcgan_* 2>/dev/null | head -n 1 || true)
for protocol in $PROTOCOLS; do
  if [ -z "$trained" ]; then note "| $protocol | no trained generator (stage 2 skipped or failed) | | |"; continue; fi
  if [ "$(left)" -lt 30 ]; then note "| $protocol | skipped: budget spent | | |"; continue; fi
  t0=$(date +%s)
  python3 -m harness.cli score "$trained" --protocol "$protocol" --device "$DEVICE" >"$WORK/last.log" 2>&1 \
    || { tail -n 20 "$WORK/last.log"; note "| $protocol | failed | | |"; continue; }
  python3 - "$trained/scores.jsonl" "$protocol" "$(( $(date +%s) - t0 ))" <<'EOF' | tee -a "$DEST"
import json, sys
record = json.loads(open(sys.argv[1]).read().splitlines()[-1])
fid, kid = record.get("fid", float("nan")), record.get("kid", float("nan"))
print(f"| {sys.argv[2]} | {fid:.3f} | {kid:.5f} | {sys.argv[3]} |")
EOF
  true
done
note ""
note "Trained: $trained. A protocol's seconds include the process start and, the first time at each precision,"
note "the reference features of the training images."
echo "done in $(( $(date +%s) - begin )) s; wrote $DEST"
