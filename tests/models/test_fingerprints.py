"""Each arch's recipe revision (models.Arch.version, hashed into job ids as arch_version) changes whenever its nets
do: a fingerprint of the nets each arch builds (layers, their settings, parameter shapes, initial weights at a fixed
seed) is committed per version, so changing an arch's nets without a new version fails here, before an old job id
comes to mean other nets. After a deliberate change: bump the arch's version, then record the new fingerprints with
`python -m tests.models.test_fingerprints`."""

import hashlib
import json
from pathlib import Path

import pytest
import torch

from harness.config.specs import ModelSpec
from harness.models import ARCHS

FILE = Path(__file__).with_name("fingerprints.json")


def fingerprint(name: str) -> str:
    """sha256 of the nets' structure and initial weights (rounded: the same on any CPU and torch release)."""
    arch, parts = ARCHS.get(name), []
    spec = ModelSpec(arch=name, z_dim=8, ngf=8, ndf=8)
    for resolution in arch.resolutions:
        torch.manual_seed(0)
        for net in (arch.build_g(spec, resolution, 3), arch.build_d(spec, resolution, 3)):
            parts.append(repr(net))
            for key, t in net.state_dict().items():
                stats = (t.float().mean().item(), t.float().std().item() if t.numel() > 1 else 0.0)
                parts.append(f"{key} {tuple(t.shape)} {t.dtype} " + " ".join(f"{v:.3g}" for v in stats))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def recorded() -> dict:
    return json.loads(FILE.read_text()) if FILE.exists() else {}


@pytest.mark.parametrize("name", ARCHS.names())
def test_an_arch_whose_nets_changed_has_a_new_version(name):
    arch, entry = ARCHS.get(name), recorded().get(name)
    assert entry is not None, f"{name} has no recorded fingerprint: run python -m tests.models.test_fingerprints"
    got = fingerprint(name)
    if entry["version"] == arch.version:
        assert got == entry["fingerprint"], (
            f"{name}'s nets changed but its version is still {arch.version}: bump Arch.version in its module "
            "(old job ids must keep meaning the old nets), then run python -m tests.models.test_fingerprints"
        )
    else:
        pytest.fail(f"{name} is at version {arch.version}, its fingerprint at {entry['version']}: record it anew")


if __name__ == "__main__":
    table = {name: {"version": ARCHS.get(name).version, "fingerprint": fingerprint(name)} for name in ARCHS.names()}
    FILE.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
    print(json.dumps(table, indent=2))
