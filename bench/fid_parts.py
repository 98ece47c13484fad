"""Where the time of a FID + KID score goes, before (torch-fidelity's feature loop: evaluate.score(plain=True), the
path every score took until the harness's own loop) and after (harness/eval/features.py), part by part; and the
whole score both ways, with how far apart their numbers are.

    python bench/fid_parts.py --out results/bench/fid_parts.md         # CUDA: 50k samples, 50k reference images
    python bench/fid_parts.py --device cpu --samples 16 --out x.md     # the CPU path (CI)

The generator is an untrained DCGAN at 32 px and the reference random uint8 images: the time does not depend on what
the images show. Inception weights: HARNESS_INCEPTION_WEIGHTS when set, else a randomly initialised network of
torch-fidelity's layout (again, the same time). Every timed part runs once after a warm-up (on a GPU two batches:
cuDNN's autotuner and CUDA's lazy loading are paid there, not in the row); the reference features are computed and
cached before the whole-score rows, which read them as a suite's every score after its first does.
"""

import argparse
import contextlib
import dataclasses
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.config.specs import EvalSpec, ModelSpec  # noqa: E402
from harness.core import precision  # noqa: E402
from harness.eval import distances, evaluate, features  # noqa: E402
from harness.eval.features import Generated, Uint8Images  # noqa: E402
from harness.models import ARCHS  # noqa: E402

RESOLUTION, Z_DIM = 32, 100
LAYER = "2048"
TORCH_FIDELITY_BATCH = 64  # EvalSpec.batch_size's default: the batch torch-fidelity's loop has always run at


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, fn, *args):
    """(seconds, result) of one synchronised call fn(*args)."""
    sync(device)
    t0 = time.perf_counter()
    out = fn(*args)
    sync(device)
    return time.perf_counter() - t0, out


def random_weights(path: Path) -> Path:
    """torch-fidelity's InceptionV3 with its initial random weights, saved as a weights file (for timing only)."""
    from torch_fidelity import feature_extractor_inceptionv3 as fe

    with mock.patch.object(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None):
        with mock.patch.object(fe, "load_state_dict_from_url", lambda *a, **k: {}):
            net = fe.FeatureExtractorInceptionV3("inception-v3-compat", [LAYER])
    torch.save(net.state_dict(), path)
    return path


def extractor(device: torch.device, nhwc: bool):
    weights = os.environ["HARNESS_INCEPTION_WEIGHTS"]
    kwargs = {"feature_extractor_weights_path": weights, "cuda": device.type == "cuda"}
    return evaluate._cached_extractor("inception-v3-compat", (LAYER,), weights, 0, kwargs["cuda"], nhwc)


def plain_features(images: torch.Tensor, net, device: torch.device) -> torch.Tensor:
    """torch-fidelity's own loop: a DataLoader over the images, a copy to the device and back per batch."""
    from torch_fidelity import utils as tfu

    cuda = device.type == "cuda"
    batch = TORCH_FIDELITY_BATCH if cuda else features.EXTRACTOR_BATCH["cpu"]
    with torch.no_grad():
        return tfu.get_featuresdict_from_dataset(Uint8Images(images), net, batch, cuda, True, False)[LAYER]


def parts(args, device: torch.device, G, reals: torch.Tensor) -> list[tuple[str, float]]:
    """(what, seconds) for each part of a score, the plain path's first, then the harness's step by step."""
    n, rows = args.samples, []
    fakes_of = lambda seed: Generated(G, n, Z_DIM, seed)  # noqa: E731
    warm = Generated(G, 2 * features.EXTRACTOR_BATCH["cuda"] if device.type == "cuda" else 2, Z_DIM, 99)
    contiguous, nhwc = extractor(device, nhwc=False), extractor(device, nhwc=True)
    plain_net = contiguous if device.type == "cuda" else nhwc  # the plain path on a CPU was already channels-last
    with precision.flags("fp32"):
        plain_features(warm.materialise(device).images, plain_net, device)
        t, made = timed(device, lambda: fakes_of(1).materialise(device).images)
        rows.append((f"generate {n:,} samples to the CPU (uint8)", t))
        t, _ = timed(device, lambda: plain_features(made, plain_net, device))
        rows.append(("features, torch-fidelity's loop (DataLoader, copies each way)", t))
        big = features.EXTRACTOR_BATCH[device.type]
        if device.type == "cuda":  # one change at a time; on a CPU the plain path had these settings already
            steps = [("harness loop, stored samples, NCHW, batch 64", Uint8Images(made), contiguous, 64)]
            steps.append(("+ channels-last", Uint8Images(made), nhwc, 64))
            steps.append((f"+ batch {big}", Uint8Images(made), nhwc, big))
        else:
            steps = [(f"harness loop, stored samples (channels-last, batch {big})", Uint8Images(made), nhwc, big)]
        steps.append(("+ samples made on the device as they are scored", fakes_of(1), nhwc, big))
        for what, images, net, batch in steps:
            features.extract(warm, net, device, batch)
            t, out = timed(device, features.extract, images, net, device, batch)
            rows.append((f"features, {what}", t))
        fake, real = out[LAYER], features.extract(Uint8Images(reals), nhwc, device)[LAYER]
        t, _ = timed(device, lambda: distances.fid(fake, real, device))
        rows.append(("FID from the features (fp64 moments, symmetric eigensolver)", t))
        subset = min(1000, n)
        t, _ = timed(device, lambda: distances.kid(fake, real, 100, subset, evaluate.FIDELITY_SEED, device))
        rows.append((f"KID from the features (100 subsets of {subset})", t))
    return rows


def whole(args, device: torch.device, G, reals: torch.Tensor) -> list[tuple[str, float, dict]]:
    """(what, seconds, scores) of evaluate.score: plain and fast at fp32, then fast at the opt-in precisions."""
    n = args.samples
    spec = EvalSpec(n_samples=n, metrics=("fid", "kid"), kid_subset_size=min(1000, n))
    cuda = device.type == "cuda"
    out = []
    for mode in args.precisions:
        spec_at = dataclasses.replace(spec, extractor_precision=mode)
        key = f"bench-fid-parts-{len(reals)}" + ("" if mode == "fp32" else f"-{mode}")
        evaluate.score(Generated(G, n, Z_DIM, 0), reals, key, spec_at, cuda)  # the reference, computed and cached
        if mode == "fp32":
            t, scores = timed(device, plain_score, G, n, reals, key, spec_at, device)
            out.append(("whole score, torch-fidelity's loop (before)", t, scores))
        t, scores = timed(device, evaluate.score, Generated(G, n, Z_DIM, 1), reals, key, spec_at, cuda)
        out.append((f"whole score, harness loop, extractor {mode}", t, scores))
    return out


def plain_score(G, n: int, reals, key: str, spec: EvalSpec, device: torch.device) -> dict:
    """The score as it was: samples made to the CPU first, then torch-fidelity's loop."""
    fakes = evaluate.generate(G, n, Z_DIM, features.GENERATOR_BATCH, device, seed=1)
    return evaluate.score(fakes, reals, key, spec, device.type == "cuda", plain=True)


def table(args, rows, scores) -> str:
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    weights = "real" if args.real_weights else "random (timing only)"
    lines = [
        f"# Where the time of FID + KID goes ({name})",
        "",
        f"{datetime.date.today()}, torch {torch.__version__}, {args.samples:,} generated {RESOLUTION} px samples "
        f"(untrained DCGAN) against {args.references:,} reference images, Inception weights {weights}. "
        f"Command: `{' '.join(sys.argv)}`",
        "",
        "| part | seconds |",
        "| --- | --- |",
        *[f"| {what} | {t:.2f} |" for what, t in rows],
        "",
        "| whole score (reference features cached) | seconds | FID | KID | FID rel. to before |",
        "| --- | --- | --- | --- | --- |",
    ]
    base = scores[0][2]["fid"]
    for what, t, s in scores:
        if args.real_weights:
            lines.append(f"| {what} | {t:.2f} | {s['fid']:.4f} | {s['kid']:.6f} | {relative(s['fid'], base):.1e} |")
        else:  # random weights give features near zero: their FID means nothing
            lines.append(f"| {what} | {t:.2f} | – | – | – |")
    return "\n".join(lines) + "\n"


def relative(a: float, b: float) -> float:
    return abs(a - b) / abs(b) if b else abs(a - b)


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cuda = torch.cuda.is_available()
    p.add_argument("--device", default="cuda" if cuda else "cpu")
    p.add_argument("--samples", type=int, default=50_000 if cuda else 16)
    p.add_argument("--references", type=int, default=None, help="reference images (default: --samples)")
    p.add_argument("--precisions", nargs="+", default=list(precision.PRECISIONS), choices=precision.PRECISIONS)
    p.add_argument("--out", type=Path, default=None, help="Markdown file to write the tables to")
    args = p.parse_args(argv)
    args.references = args.references or args.samples
    if args.precisions[0] != "fp32":
        p.error("--precisions must start with fp32 (the exact score the others are compared with)")
    return args


def main(argv=None) -> None:
    args = parse(argv)
    device = torch.device(args.device)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        args.real_weights = bool(os.environ.get("HARNESS_INCEPTION_WEIGHTS"))
        env = {"HARNESS_CACHE": str(tmp / "cache")}  # the bench's references never enter a user's cache
        if not args.real_weights:
            env["HARNESS_INCEPTION_WEIGHTS"] = str(random_weights(tmp / "random-inception.pth"))
        stack.enter_context(mock.patch.dict(os.environ, env))
        torch.manual_seed(0)
        G = ARCHS.get("dcgan").build_g(ModelSpec("dcgan"), RESOLUTION, 0).to(device)
        gen = torch.Generator().manual_seed(0)
        reals = torch.randint(0, 256, (args.references, 3, RESOLUTION, RESOLUTION), dtype=torch.uint8, generator=gen)
        rows = parts(args, device, G, reals)
        for what, t in rows:
            print(f"{t:8.2f} s  {what}", file=sys.stderr, flush=True)
        scores = whole(args, device, G, reals)
    text = table(args, rows, scores)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
