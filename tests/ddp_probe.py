"""Run by tests/train/test_distributed.py under `accelerate launch --num_processes 2`: one real training step of a
tiny job through the trainer's own prepare() and Step, reporting what each rank saw to a JSON file."""

import hashlib
import json
import sys
from pathlib import Path

import torch
from accelerate.utils import gather_object

from harness.data import load_dataset
from harness.train.augment import AUGMENTS
from harness.train.distributed import make_accelerator
from harness.train.loop import prepare
from harness.train.objectives import OBJECTIVES
from harness.train.step import Step
from tests.helpers import tiny_job


def digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()[:16]


def main(out: Path, arch: str, resident: bool) -> None:

    job = tiny_job(epochs=1, arch=arch)
    accelerator = make_accelerator("cpu")
    data = load_dataset(job.data, Path("."))
    s, loader, sampler = prepare(job, data, accelerator, resident=resident)
    loader.set_epoch(1)
    images, labels = next(iter(loader))
    before = torch.cat([p.detach().flatten() for p in accelerator.unwrap_model(s.G).parameters()])
    objective = OBJECTIVES.get(job.train.objective)(job.train, AUGMENTS.get("none").d_input)
    stats = Step(s, objective, AUGMENTS.get("none"), accelerator, z_dim=16, num_classes=3)(images, labels, True)
    nets = [accelerator.unwrap_model(net) for net in (s.G, s.D)]
    params = torch.cat([p.detach().flatten() for net in nets for p in net.parameters()])
    report = {
        "rank": accelerator.process_index,
        "world_size": accelerator.num_processes,
        "batch": [digest(x) for x in images],
        "params": params.tolist(),
        "changed": not torch.equal(before, params[: len(before)]),
        "d_loss": stats["d_loss"],
    }
    reports = gather_object([report])
    if accelerator.is_main_process:
        sampler.set_epoch(1)
        order = list(sampler)[: job.train.batch_size]  # the single-process first batch of epoch 1
        first_global_batch = [digest(data.images[i]) for i in order]
        out.write_text(json.dumps({"reports": reports, "global_batch": first_global_batch}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "resident")
