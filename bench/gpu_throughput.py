"""Training and scoring throughput of the harness against the naive loop, in ONE run on one device.

    python bench/gpu_throughput.py                      # on a GPU: 32 and 64 px, packing 1/2/4/8, FID of 50k
    python bench/gpu_throughput.py --device cpu --steps 5 --pack 1 2 --lanes 2 --fid-samples 0   # the CPU path (CI)

The naive loop is the pytorch/examples DCGAN loop: a CPU DataLoader of float tensors (2 workers), a host-to-device
copy per batch, PyTorch's default precision (TF32 in cuDNN convolutions) with cudnn.benchmark, loss.item() every
step. The harness step is step.Step with the dataset resident on the device as uint8, at each precision, eager and
replayed as a CUDA graph (harness/train/graphs.py). Both train the same DCGAN (harness/models/dcgan.py) at the same
batch size with one D and one G step per batch. Packed: K processes each running the harness step at once, total
images/s.
Seed-batched: K seeds of the job as lanes of one vmapped model in one process (harness/train/lanes.py), total images/s.
Writes a Markdown table (with device name, date, torch version) to --out and prints it.
"""

import argparse
import datetime
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.config.specs import DataSpec, JobSpec, ModelSpec, TrainSpec  # noqa: E402
from harness.core import precision  # noqa: E402
from harness.data import ImageSet  # noqa: E402
from harness.models import ARCHS  # noqa: E402

N_IMAGES = 50_000  # CIFAR-10's training set; content does not matter for throughput
LOOPS = {False: "harness step", True: "harness step, CUDA graph"}


def job(resolution: int, batch: int, prec: str = "fp32") -> JobSpec:
    return JobSpec(
        ModelSpec("dcgan"),
        DataSpec("synthetic", "bench", resolution, n_images=N_IMAGES),
        TrainSpec(epochs=1, seed=0, batch_size=batch, precision=prec, objective="bce"),
    )


def images(resolution: int, n: int) -> ImageSet:
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, resolution, resolution), dtype=torch.uint8, generator=gen)
    return ImageSet(x, torch.zeros(n, dtype=torch.long), ("all",))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def naive(device: torch.device, resolution: int, batch: int, steps: int, warmup: int) -> float:
    """images/s of the pytorch/examples-style loop."""

    # As pytorch/examples runs it: PyTorch's default TF32 settings (cuDNN on, matmul off) and cudnn.benchmark.
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        return _naive(device, resolution, batch, steps, warmup)
    finally:
        torch.backends.cudnn.benchmark = saved


def _naive(device: torch.device, resolution: int, batch: int, steps: int, warmup: int) -> float:
    from torch.utils.data import DataLoader, TensorDataset

    spec = job(resolution, batch)
    arch = ARCHS.get("dcgan")
    G = arch.build_g(spec.model, resolution, 0).to(device)
    D = arch.build_d(spec.model, resolution, 0).to(device)
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    bce = torch.nn.BCEWithLogitsLoss()
    n = min(N_IMAGES, batch * (steps + warmup + 2))
    data = images(resolution, n).images.float() / 127.5 - 1  # the examples' ToTensor + Normalize, done up front
    loader = DataLoader(TensorDataset(data), batch, shuffle=True, drop_last=True, num_workers=2)
    done, t0 = 0, None
    while done < steps + warmup:
        for (real,) in loader:
            if done == warmup:
                sync(device)
                t0 = time.perf_counter()
            if done == steps + warmup:
                break
            real = real.to(device)
            ones, zeros = torch.ones(batch, device=device), torch.zeros(batch, device=device)
            fake = G(torch.randn(batch, spec.model.z_dim, device=device), None)
            d_loss = bce(D(real, None).view(-1), ones) + bce(D(fake.detach(), None).view(-1), zeros)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            g_loss = bce(D(fake, None).view(-1), ones)
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            d_loss.item(), g_loss.item()  # the examples log both every step
            done += 1
    sync(device)
    return steps * batch / (time.perf_counter() - t0)


def make_step(device: torch.device, resolution: int, batch: int, n_batches: int, prec: str, graph: bool = False):
    """step.Step (or its CUDA graph) on resident uint8 data; returns run(k), which takes k steps."""
    from accelerate import Accelerator

    from harness.train import graphs
    from harness.train.augment import AUGMENTS
    from harness.train.loop import prepare
    from harness.train.objectives import OBJECTIVES
    from harness.train.step import Step

    spec = job(resolution, batch, prec)
    accelerator = Accelerator(cpu=device.type == "cpu")
    data = images(resolution, min(N_IMAGES, batch * (n_batches + 1)))
    s, batches, _ = prepare(spec, data, accelerator, resident=True)
    objective = OBJECTIVES.get("bce")(spec.train, AUGMENTS.get("none").d_input)
    graphs.settle_optimizers(s, accelerator.device)
    step = graphs.for_job(Step(s, objective, AUGMENTS.get("none"), accelerator, spec.model.z_dim, 1, prec), graph)
    epoch = [0]

    def batches_forever():
        while True:  # more steps than one pass over the data: the next epoch, as training does
            epoch[0] += 1
            batches.set_epoch(epoch[0])
            yield from batches

    it = batches_forever()

    def run(k: int) -> None:
        with precision.flags(prec):
            for _ in range(k):
                step(*next(it), True)
        sync(device)

    run.fallback = lambda: getattr(step, "fallback", "") if graph else ""  # a graph row that trained eagerly says so
    return run


def make_lanes(device: torch.device, resolution: int, batch: int, n_batches: int, prec: str, k: int):
    """lanes.LaneStep over k seeds on resident uint8 data (one copy, k data orders); returns run(steps)."""
    import dataclasses

    from harness.train import batching, distributed, graphs, lanes
    from harness.train.state import build

    specs = [
        dataclasses.replace(
            job(resolution, batch, prec), train=TrainSpec(1, seed, batch, precision=prec, objective="bce")
        )
        for seed in range(k)
    ]
    data = images(resolution, min(N_IMAGES, batch * (n_batches + 1)))
    data = ImageSet(data.images.to(device), data.labels.to(device), data.class_names)
    states = []
    for spec in specs:
        torch.manual_seed(spec.train.seed)
        states.append(build(spec, 1))
        states[-1].G.to(device), states[-1].D.to(device)
        graphs.settle_optimizers(states[-1], device)
    gens = [distributed.lane_generator(spec.train.seed, device) for spec in specs]
    step = lanes.LaneStep.of(specs, states, gens, 1)
    samplers = [batching.EpochShuffle(len(data), spec.train.seed) for spec in specs]
    epoch = [0]

    def batches_forever():
        while True:  # each lane its own data order, as in training
            epoch[0] += 1
            for sampler in samplers:
                sampler.set_epoch(epoch[0])
            orders = [sampler.indices().to(device) for sampler in samplers]
            for i in range(len(data) // batch):
                idx = torch.stack([order[i * batch : (i + 1) * batch] for order in orders])
                yield data.images[idx], data.labels[idx]

    it = batches_forever()

    def run(n: int) -> None:
        with precision.flags(prec):
            for _ in range(n):
                step(*next(it), True)
        sync(device)

    return run


def seed_batched(device, resolution: int, batch: int, steps: int, warmup: int, prec: str, k: int) -> float:
    """Total images/s of k lanes (k x batch images per step)."""
    run = make_lanes(device, resolution, batch, steps + warmup, prec, k)
    run(warmup)
    t0 = time.perf_counter()
    run(steps)
    return k * steps * batch / (time.perf_counter() - t0)


def harness_step(device, resolution: int, batch: int, steps: int, warmup: int, prec: str, graph: bool) -> float:
    """images/s of the harness step on resident uint8 data."""
    run = make_step(device, resolution, batch, steps + warmup, prec, graph)
    run(warmup)
    if reason := run.fallback():
        print(f"CUDA graph row fell back to eager: {reason}", file=sys.stderr)
    t0 = time.perf_counter()
    run(steps)
    return steps * batch / (time.perf_counter() - t0)


def packed(args, resolution: int, k: int, prec: str, graph: bool) -> float:
    """Total images/s of k processes running the harness step at once (all start together once built)."""
    start = time.time() + args.start_delay
    command = [sys.executable, __file__, "--worker", "--device", args.device, "--batch", str(args.batch)]
    command += ["--steps", str(args.steps), "--warmup", str(args.warmup), "--start", str(start)]
    command += ["--resolutions", str(resolution), "--precision", prec] + (["--graph"] if graph else [])
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(k)]
    results = [json.loads(w.communicate()[0].strip().splitlines()[-1]) for w in workers]
    if late := max(r["late"] for r in results):  # still a fair total (all images over the whole span), but lower
        print(f"a packed worker started {late:.1f} s late; raise --start-delay ({args.start_delay} s)", file=sys.stderr)
    first, last = min(r["t0"] for r in results), max(r["t1"] for r in results)
    return sum(r["images"] for r in results) / (last - first)


def worker(args) -> None:
    device, resolution = torch.device(args.device), args.resolutions[0]
    if device.type == "cpu":
        torch.set_num_threads(1)
    run = make_step(device, resolution, args.batch, args.steps + args.warmup, args.precision, args.graph)
    run(args.warmup)  # kernels loaded, optimiser state allocated: as warm as the single-job row
    late = time.time() - args.start
    while time.time() < args.start:
        time.sleep(0.005)
    t0 = time.time()
    run(args.steps)
    print(json.dumps({"t0": t0, "t1": time.time(), "images": args.steps * args.batch, "late": max(0.0, late)}))


def fid_seconds(device: torch.device, n: int, resolution: int) -> float | None:
    """Seconds to generate n samples and compute FID+KID against a cached reference (None without weights)."""
    from harness.config.specs import EvalSpec
    from harness.eval import evaluate
    from harness.eval.features import Generated

    try:
        evaluate.extractor()
    except Exception as e:
        print(f"FID timing skipped: {e}", file=sys.stderr)
        return None
    spec = job(resolution, 128)
    G = ARCHS.get("dcgan").build_g(spec.model, resolution, 0).to(device)
    reals = images(resolution, min(n, N_IMAGES)).images
    eval_spec = EvalSpec(n_samples=n, metrics=("fid", "kid"), kid_subset_size=min(1000, n), batch_size=500)
    key = f"bench-{resolution}px-{len(reals)}"
    cuda = device.type == "cuda"
    evaluate.score(Generated(G, n, spec.model.z_dim, seed=0), reals, key, eval_spec, cuda)  # caches the reference
    sync(device)
    t0 = time.perf_counter()
    evaluate.score(Generated(G, n, spec.model.z_dim, seed=1), reals, key, eval_spec, cuda)  # as a job's score runs
    return time.perf_counter() - t0


def table(args) -> str:
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    lines = [
        f"# Training throughput: harness vs the naive loop ({name})",
        "",
        f"{datetime.date.today()}, torch {torch.__version__}, DCGAN, batch {args.batch}, one D and one G step per "
        f"batch, {args.steps} timed steps after {args.warmup} warm-up steps. Command: `{' '.join(sys.argv)}`",
        "",
        "| resolution | loop | precision | jobs | images/s | × naive |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for resolution in [] if args.skip_training else args.resolutions:
        first_row = len(lines)
        base = naive(device, resolution, args.batch, args.steps, args.warmup)
        lines.append(f"| {resolution} | naive (examples) | PyTorch default | 1 | {base:,.0f} | 1.00 |")
        rows = [(prec, False) for prec in args.precisions] + [(prec, True) for prec in args.graph_precisions]
        for prec, graph in rows:
            rate = harness_step(device, resolution, args.batch, args.steps, args.warmup, prec, graph)
            lines.append(f"| {resolution} | {LOOPS[graph]} | {prec} | 1 | {rate:,.0f} | {rate / base:.2f} |")
        for k in [k for k in args.pack if k > 1]:
            for prec, graph in args.packed:
                rate = packed(args, resolution, k, prec, graph)
                loop = f"{LOOPS[graph]}, packed"
                lines.append(f"| {resolution} | {loop} | {prec} | {k} | {rate:,.0f} | {rate / base:.2f} |")
        prec = (args.graph_precisions or args.precisions)[0]
        for k in args.lanes:
            rate = seed_batched(device, resolution, args.batch, args.steps, args.warmup, prec, k)
            lines.append(
                f"| {resolution} | harness step, seed-batched | {prec} | {k} | {rate:,.0f} | {rate / base:.2f} |"
            )
        print("\n".join(lines[first_row:]), file=sys.stderr, flush=True)
    if args.fid_samples:
        seconds = fid_seconds(device, args.fid_samples, args.resolutions[0])
        if seconds is not None:
            lines += ["", f"FID + KID of {args.fid_samples:,} generated {args.resolutions[0]}px samples, reference "
                      f"cached (generation included): {seconds:.1f} s"]  # fmt: skip
    return "\n".join(lines) + "\n"


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cuda = torch.cuda.is_available()
    p.add_argument("--device", default="cuda" if cuda else "cpu")
    p.add_argument("--resolutions", type=int, nargs="+", default=[32, 64])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=300 if cuda else 5)
    p.add_argument("--warmup", type=int, default=30 if cuda else 2)
    p.add_argument("--precisions", nargs="+", default=["fp32", "tf32", "bf16"] if cuda else ["fp32"])
    p.add_argument("--graph-precisions", nargs="+", default=["tf32", "bf16"] if cuda else [])
    p.add_argument("--pack-graph", choices=["eager", "graph", "both"], default="both" if cuda else "eager")
    p.add_argument("--pack", type=int, nargs="+", default=[1, 2, 4, 8] if cuda else [1, 2])
    p.add_argument("--lanes", type=int, nargs="*", default=[2, 4, 8] if cuda else [2], help="seed-batched rows")
    p.add_argument("--fid-samples", type=int, default=50_000 if cuda else 0)
    p.add_argument("--start-delay", type=float, default=30.0, help="seconds packed workers get to build models")
    p.add_argument("--skip-training", action="store_true", help="time only the FID evaluation")
    p.add_argument("--out", type=Path, default=None, help="Markdown file to write the table to")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--start", type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument("--precision", default="tf32", help=argparse.SUPPRESS)
    p.add_argument("--graph", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    graph = {"eager": [False], "graph": [True], "both": [False, True]}[args.pack_graph]
    prec = (args.graph_precisions or args.precisions)[0]  # eager and graph packed rows at one precision
    args.packed = [(prec, g) for g in graph]
    return args


def main(argv=None) -> None:
    args = parse(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)  # Accelerate trains on the current device
    if args.worker:
        worker(args)
        return
    text = table(args)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
