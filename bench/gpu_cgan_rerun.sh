#!/usr/bin/env bash
# Re-run the cgan rows of suites/cifar_gpu.yaml (cgan v2: 3 seeds, 10 epochs, fid10k-train with the health metrics)
# on one GPU, and put their records beside the other 21 jobs in results/cifar_all (issue 17, item 6).
#
# On the device machine (its Python has torch, accelerate, pandas, ...; not torch-fidelity): `bash
# bench/device_carry.sh` here lays out .device/part1..3 (torch-fidelity's wheel, CIFAR-10, the Inception weights in
# three pieces); carry one part a call, the machine staying warm between calls, and in the third:
#   cp -r .device/part3/. /tmp/dev/ && . bench/device_setup.sh && DEVICE=cuda bash bench/gpu_cgan_rerun.sh
# On a CPU, the same path at smoke size (a check of the script, not of the numbers):
#   DEVICE=cpu SUITE=suites/zoo_smoke.yaml ONLY='cgan_*_32px_*' TARGET=/tmp/rerun-check bash bench/gpu_cgan_rerun.sh
# Budget: the three seeds train as lanes of one batched model (--seed-batch); sngan, the same CNN, took 262 s a seed
# alone on an H100. Its runs are written outside the synced tree; only their records come back.
set -euo pipefail
DEVICE=${DEVICE:-cuda}
SUITE=${SUITE:-suites/cifar_gpu.yaml}
ONLY=${ONLY:-cgan_*}
TARGET=${TARGET:-results/cifar_all}
RUNS=${RUNS:-/tmp/cgan-rerun}
RECORDS=(spec.json status.json metrics.jsonl final.json scores.jsonl)

if [ -d wheels ]; then pip install --no-deps -q wheels/*.whl; fi
python3 -m harness.cli plan "$SUITE" --only "$ONLY" --results "$RUNS"
start=$(date +%s)
python3 -m harness.cli run "$SUITE" --only "$ONLY" --device "$DEVICE" --seed-batch --results "$RUNS"
echo "trained and scored in $(( $(date +%s) - start )) s"

suite=$(python3 -c "import sys; from harness.plan.suite import load_suite; print(load_suite(sys.argv[1]).name)" "$SUITE")
mkdir -p "$TARGET"
for run in "$RUNS/$suite"/$ONLY; do
  dest="$TARGET/$(basename "$run")"
  mkdir -p "$dest/samples"
  for name in "${RECORDS[@]}"; do [ -f "$run/$name" ] && cp "$run/$name" "$dest/"; done
  last=$(ls "$run"/samples/epoch_*.png | tail -n 1)  # what results/ keeps of the samples
  cp "$last" "$run/samples/interpolation.png" "$run/samples/classes.png" "$dest/samples/"
done
python3 -m harness.cli report "$TARGET"
python3 -m harness.cli plan "$SUITE" --results "$(dirname "$TARGET")"
