#!/usr/bin/env bash
# Lay out .device/ (git-ignored) for a GPU run of bench/gpu_scoring.sh or bench/gpu_cgan_rerun.sh: what the device
# machine lacks, in pieces that each fit one call's 64 MiB working-tree copy.
#   bash bench/device_carry.sh          # on this machine, once; needs ../shared and network access to PyPI
# Then three device calls in a row (the machine stays warm ~30 s between them; /tmp survives while it does):
#   1. carry [".device/part1"]: mkdir -p /tmp/dev && cp -r .device/part1/. /tmp/dev/
#   2. carry [".device/part2"]: cp -r .device/part2/. /tmp/dev/
#   3. carry [".device/part3"]: cp -r .device/part3/. /tmp/dev/ && . bench/device_setup.sh && <the GPU script>
# where bench/device_setup.sh installs the wheels, joins the weights and unpacks CIFAR-10 (see its header).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
WEIGHTS=${HARNESS_INCEPTION_WEIGHTS:-$HOME/.cache/harness/inception-fid.pth}
[ -f "$WEIGHTS" ] || PYTHON=${PYTHON:-.venv/bin/python} bash "$SHARED/weights/make_fid_weights.sh" "$WEIGHTS"
rm -rf .device && mkdir -p .device/part1/wheels .device/part2 .device/part3
# The device image has scipy, scikit-learn, tabulate and tqdm (../.library/device/KINDS.md); not these two.
pip download -q --no-deps -d .device/part1/wheels "torch-fidelity==0.4.0" "prdc==0.2"
cp "$SHARED/datasets/cifar10-jpeg.tar.gz" .device/part2/  # each part stays under ~52 MB with the tree
split -n 3 -d "$WEIGHTS" .device/weights.part
mv .device/weights.part00 .device/part1/ && mv .device/weights.part01 .device/part2/
mv .device/weights.part02 .device/part3/
du -sh .device/part*
