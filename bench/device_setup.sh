#!/usr/bin/env bash
# On the device machine, after the three carries of bench/device_carry.sh have put their parts in /tmp/dev: install
# torch-fidelity and prdc (into /tmp/dev/site, on PYTHONPATH: the image's site-packages may be read-only), join the
# Inception weights, unpack CIFAR-10. Source it (`. bench/device_setup.sh`) so that the variables it exports stay set
# for the command that follows; it changes no shell option of the caller's.
python3 -m pip install --no-deps -q --target /tmp/dev/site /tmp/dev/wheels/*.whl || return 1
cat /tmp/dev/weights.part0? >/tmp/dev/inception-fid.pth || return 1
mkdir -p /tmp/dev/data && tar -xzf /tmp/dev/cifar10-jpeg.tar.gz -C /tmp/dev/data || return 1
export PYTHONPATH=/tmp/dev/site${PYTHONPATH:+:$PYTHONPATH}
export HARNESS_INCEPTION_WEIGHTS=/tmp/dev/inception-fid.pth HARNESS_DATA=/tmp/dev/data
