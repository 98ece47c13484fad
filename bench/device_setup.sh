#!/usr/bin/env bash
# On the device machine, after the three carries of bench/device_carry.sh have put their parts in /tmp/dev: install
# torch-fidelity and prdc, join the Inception weights, unpack CIFAR-10. Source it (`. bench/device_setup.sh`) so that
# HARNESS_INCEPTION_WEIGHTS and HARNESS_DATA stay set for the command that follows.
set -euo pipefail
pip install --no-deps -q /tmp/dev/wheels/*.whl
cat /tmp/dev/weights.part0? >/tmp/dev/inception-fid.pth
mkdir -p /tmp/dev/data && tar -xzf /tmp/dev/cifar10-jpeg.tar.gz -C /tmp/dev/data
export HARNESS_INCEPTION_WEIGHTS=/tmp/dev/inception-fid.pth HARNESS_DATA=/tmp/dev/data
set +euo pipefail
