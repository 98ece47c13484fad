"""The torch-fidelity adapter: the only module that knows its arguments and result keys."""

import functools
import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from harness.config.specs import HEALTH_METRICS, DataSpec, EvalSpec
from harness.core import atomic, precision
from harness.core.errors import EvalError, explain_os_error
from harness.core.images import to_uint8
from harness.core.paths import cache_dir, inception_weights
from harness.eval import distances, health

# torch-fidelity result key -> the harness's column name.
KEYS = {
    "frechet_inception_distance": "fid",
    "kernel_inception_distance_mean": "kid",
    "kernel_inception_distance_std": "kid_std",
    "inception_score_mean": "is",
    "inception_score_std": "is_std",
    "precision": "precision",
    "recall": "recall",
    **{name: name for name in ("density", "coverage", "diversity", "intra_fid")},  # harness/eval/health.py's
}
KEY_FID, KEY_KID, KEY_KID_STD = (
    "frechet_inception_distance",
    "kernel_inception_distance_mean",
    "kernel_inception_distance_std",
)
log = logging.getLogger("harness")
FIDELITY_SEED = 2020  # torch-fidelity's default: fixes KID's random subsets


class Uint8Images(Dataset):
    """What torch-fidelity consumes: uint8 tensors 3 x H x W, resized inside its extractor."""

    def __init__(self, images: torch.Tensor):
        assert images.dtype == torch.uint8 and images.ndim == 4
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


def balanced_labels(n: int, num_classes: int, gen: torch.Generator) -> torch.Tensor:
    """n labels, each class n/K times (±1), in random order: conditional G are scored on class-balanced samples."""
    return (torch.arange(n) % num_classes)[torch.randperm(n, generator=gen)]


def sample_labels(n: int, num_classes: int, seed: int) -> torch.Tensor | None:
    """The labels `generate` gives its n samples under `seed` (None for an unconditional G)."""
    return balanced_labels(n, num_classes, torch.Generator().manual_seed(seed)) if num_classes else None


@torch.no_grad()
def generate(
    G: torch.nn.Module,
    n: int,
    z_dim: int,
    batch_size: int,
    device: torch.device,
    seed: int,
    num_classes: int = 0,
    share: range | None = None,
) -> torch.Tensor:
    """Samples from G (in eval mode) as uint8 on the CPU, noise and labels drawn for all n from their own seeded
    generator; `share` (a range of sample indices) makes only those, so ranks can split the work and the samples
    are the same however many ranks make them. num_classes > 0 asks a conditional G for class-balanced samples."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    labels = balanced_labels(n, num_classes, gen) if num_classes else None
    z_all = torch.randn(n, z_dim, generator=gen)
    share = share if share is not None else range(n)
    was_training = G.training
    G.eval()
    out = []
    for start in range(share.start, share.stop, batch_size):
        stop = min(start + batch_size, share.stop)
        y = labels[start:stop].to(device) if labels is not None else None
        out.append(to_uint8(G(z_all[start:stop].to(device), y).float()).cpu())
    G.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 3, 0, 0, dtype=torch.uint8)


@functools.cache
def _weights_info(path: Path, size: int, mtime_ns: int) -> tuple[str, bool]:
    """(short sha256, whether the classifier head needed by IS is usable) for a weights file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    head = _checked_weights(path).get("fc.weight")
    return digest.hexdigest()[:12], isinstance(head, torch.Tensor) and bool(torch.isfinite(head).all())


def _checked_weights(path: Path) -> dict:
    """The state dict at path, once torch-fidelity's extractor has taken it: bad weights fail before training."""
    fix = "rebuild or re-download them (see README)"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise EvalError(f"Inception weights {path} are unreadable ({type(e).__name__}); {fix}") from None
    if not isinstance(state, dict):
        raise EvalError(f"Inception weights {path} hold a {type(state).__name__}, not a state dict; {fix}")
    try:
        _inception(str(path))
    except Exception as e:  # another network's weights: missing keys, other shapes
        detail = " ".join(str(e).split())[:160]
        raise EvalError(f"Inception weights {path} do not fit torch-fidelity's InceptionV3 ({detail}); {fix}") from None
    return state


def _inception(weights: str | None):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    return FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=weights)


@functools.cache
def _default_weights_ready() -> None:
    """Fetch torch-fidelity's own weights now, so an offline machine fails before training rather than after."""
    try:
        _inception(None)
    except OSError as e:
        raise EvalError(
            f"cannot download torch-fidelity's Inception weights ({e}); offline, build them (see README) "
            "and set HARNESS_INCEPTION_WEIGHTS"
        ) from None
    except Exception as e:  # a download cut short, a damaged file in torch's hub cache
        from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

        cached = Path(torch.hub.get_dir()) / "checkpoints" / URL_INCEPTION_V3.rsplit("/", 1)[-1]
        raise EvalError(
            f"torch-fidelity's Inception weights {cached} are unreadable ({type(e).__name__}); delete that file "
            "and run again to download them afresh"
        ) from None


def extractor() -> tuple[str | None, str, bool]:
    """(weights path for torch-fidelity or None, weights id, IS available)."""
    path = inception_weights()
    if path is None:
        _default_weights_ready()
        return None, "torch-fidelity-default", True
    if not path.exists():
        raise EvalError(f"HARNESS_INCEPTION_WEIGHTS={path} does not exist; build or download the weights file")
    if not path.is_file():
        raise EvalError(f"HARNESS_INCEPTION_WEIGHTS={path} is not a file; point it at the weights file (.pth)")
    st = path.stat()
    weights_id, has_head = _weights_info(path.resolve(), st.st_size, st.st_mtime_ns)
    return str(path), weights_id, has_head


def reference_key(data: DataSpec, split: str, n_images: int, weights_id: str, extractor_precision: str = "fp32") -> str:
    """Everything that changes the reference features: source, files, classes, split, resolution, count, extractor
    and its precision (fp32 keys are those written before the precision was a setting)."""
    # n_images too: it picks the subset a smaller reference is drawn from (and, for synthetic data, the images).
    parts = [data.source, data.path, ",".join(data.classes) or "all", split, str(data.resolution), str(n_images)]
    parts.append(str(data.n_images))
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]
    exact = extractor_precision == "fp32"
    return f"ref-{data.source}-{split}-{data.resolution}px-n{n_images}-{digest}-w{weights_id}" + (
        "" if exact else f"-{extractor_precision}"
    )


def fidelity_cache() -> Path:
    return cache_dir() / "fidelity"


def reference_cached(key: str) -> bool:
    # The extractor's name after the key: an fp32 key is a prefix of its -tf32/-bf16 twins' keys.
    return any(fidelity_cache().glob(f"{key}-inception-v3-compat-features-*.pt"))


def reference_lock(key: str):
    """One writer per reference: processes that race to compute the same features wait for the first one."""
    return atomic.file_lock(fidelity_cache() / f"{key}.lock")


def score(
    fakes: torch.Tensor, reals: torch.Tensor, ref_key: str, spec: EvalSpec, cuda: bool, labels: tuple = (None, None)
) -> dict:
    """FID / KID / IS / precision-recall and the health metrics of uint8 fakes against uint8 reals; reals' features
    are cached under ref_key, computed by one process while others wait. `labels`: (reals' labels, fakes' labels)
    for a conditional G (per-class health metrics), else (None, None)."""
    weights, _, has_head = extractor()
    want = set(spec.metrics)
    wanted_health = want & set(HEALTH_METRICS)
    kwargs = dict(
        input1=Uint8Images(fakes),
        input2=Uint8Images(reals),
        input2_cache_name=ref_key,
        cache_root=str(fidelity_cache()),
        fid="fid" in want,
        kid="kid" in want,
        isc="isc" in want and has_head,
        prc="prc" in want,
        # One extractor for every metric: precision/recall on Inception pool3 features rather than torch-fidelity's
        # default VGG-16, whose weights are one more download (and absent offline).
        feature_extractor="inception-v3-compat",
        feature_layer_prc="2048",
        kid_subset_size=spec.kid_subset_size,
        kid_subsets=spec.kid_subsets,
        isc_splits=spec.isc_splits,
        prc_neighborhood=spec.prc_neighborhood,
        batch_size=spec.batch_size,
        cuda=cuda,
        save_cpu_ram=True,  # in-memory tensors: DataLoader workers would only add start-up time
        verbose=False,
        rng_seed=FIDELITY_SEED,
    )
    if weights:
        kwargs["feature_extractor_weights_path"] = weights
    wanted = Health(wanted_health, labels, spec.dc_neighborhood, spec.extractor_precision)
    if reference_cached(ref_key):
        log.info(f"reference features: cached ({ref_key})")
        return _calculate(kwargs, wanted)
    with reference_lock(ref_key):
        cached = reference_cached(ref_key)  # another process may have written them while this one waited
        log.info(f"reference features: {'cached' if cached else f'computing {len(reals)} images'} ({ref_key})")
        return _calculate(kwargs, wanted)


@dataclass(frozen=True)
class Health:
    """The health metrics a score asks for (harness/eval/health.py), and what they need beyond the features; and the
    extractor's precision (the protocol's, never the job's training precision)."""

    metrics: set[str]
    labels: tuple  # (reals' labels, fakes' labels), or (None, None)
    dc_neighborhood: int
    extractor_precision: str = "fp32"


def _calculate(kwargs: dict, wanted: Health) -> dict:
    with precision.flags(wanted.extractor_precision):  # TF32 off unless the protocol asks for it
        return _scores(kwargs, wanted)


def _scores(kwargs: dict, wanted: Health) -> dict:
    try:
        raw = _metrics(kwargs, wanted)
    except OSError as e:  # the download of the default weights fails offline; a full disk is a full disk
        if explain_os_error(e) is not None:
            raise
        raise EvalError(
            f"cannot load the Inception weights ({e}); offline, build them (see README) "
            "and set HARNESS_INCEPTION_WEIGHTS"
        ) from None
    out = {KEYS[k]: float(v) for k, v in raw.items() if k in KEYS}
    # A NaN (e.g. IS from weights without a classifier head) is a missing value, never a number in a table.
    return {k: v for k, v in out.items() if math.isfinite(v)}


# The width of each Inception layer torch-fidelity can extract (the logits: 1008 classes).
LAYER_WIDTH = {"64": 64, "192": 192, "768": 768, "2048": 2048, "logits": 1008, "logits_unbiased": 1008}


def _features(input_id: int, extractor, kwargs: dict) -> dict:
    """torch-fidelity's features of input 1 (fakes) or 2 (reals, cached), with the cache kept here in its file
    layout: torch-fidelity's own lookup unpickles cache files, and a shared cache folder must not run code. Hits are
    read with weights_only=True and must be this input's features (one finite row per image, the layer's width): any
    other file is recomputed and replaced, so one bad file never breaks every later score."""
    from torch_fidelity import utils as tfu

    name = tfu.get_cacheable_input_name(input_id, **kwargs)
    if name is None:
        return tfu.extract_featuresdict_from_input_id(input_id, extractor, **kwargs)
    prefix = fidelity_cache() / f"{name}-{extractor.get_name()}-features-"
    paths = {layer: Path(f"{prefix}{layer}.pt") for layer in extractor.get_requested_features_list()}
    rows = len(kwargs[f"input{input_id}"])
    if all(path.exists() for path in paths.values()):
        try:
            cached = {layer: torch.load(path, map_location="cpu", weights_only=True) for layer, path in paths.items()}
        except Exception as e:
            log.warning(f"cached features {prefix}* are not plain tensors ({type(e).__name__}); recomputing")
        else:
            problems = [f"{paths[layer]} {why}" for layer, t in cached.items() if (why := _unfit(t, layer, rows))]
            if not problems:
                return cached
            log.warning(f"cached features {problems[0]}; recomputing")
    features = tfu.extract_featuresdict_from_input_id(input_id, extractor, **kwargs)
    for layer, path in paths.items():
        if why := _unfit(features[layer], layer, rows):  # what a later read would refuse is not kept
            log.warning(f"features of {name} not cached: they {why}")
        else:
            atomic.save_torch(path, features[layer])
    return features


def _as_float(features: dict) -> dict:
    """Features in float32 whatever the extractor computed in (bfloat16 under autocast): the metrics take floats."""
    return {k: v.float() if torch.is_tensor(v) and v.dtype == torch.bfloat16 else v for k, v in features.items()}


def _unfit(t: object, layer: str, rows: int) -> str:
    """Why t cannot be the `layer` features of `rows` images ('' when it can)."""
    width = LAYER_WIDTH.get(layer)
    if not isinstance(t, torch.Tensor) or not t.is_floating_point():
        return f"hold a {getattr(t, 'dtype', type(t).__name__)}, not float features"
    if t.ndim != 2 or t.shape[0] != rows or (width is not None and t.shape[1] != width):
        return f"hold a {' x '.join(map(str, t.shape)) or 'scalar'} tensor, not {rows} x {width or 'N'}"
    if not torch.isfinite(t).all():
        return "hold non-finite values"
    return ""


# On a CPU, Inception in channels-last layout runs 2-3x faster than torch-fidelity's default (oneDNN's blocked
# convolutions; features equal to ~2e-6 relative), and batches of 16 keep its activations in cache (measured on
# 2 cores: 6.4 img/s at batch 64 contiguous, 15-19 img/s at 8-32 channels-last). Features are per image, so the
# batch size changes no number.
CPU_BATCH = 16


@functools.cache
def _cached_extractor(name: str, layers: tuple[str, ...], weights: str | None, mtime_ns: int, cuda: bool):
    from torch_fidelity import metrics as tf

    kwargs = dict(feature_extractor_weights_path=weights, cuda=cuda, verbose=False)
    extractor = tf.create_feature_extractor(name, list(layers), **kwargs)
    return extractor if cuda else extractor.to(memory_format=torch.channels_last)


def _extractor(name: str, layers: tuple[str, ...], kwargs: dict):
    """torch-fidelity's extractor, built once per process (loading ~100 MB of weights took ~1 s a score)."""
    weights = kwargs.get("feature_extractor_weights_path")
    mtime = Path(weights).stat().st_mtime_ns if weights else 0  # a rebuilt file is read again
    return _cached_extractor(name, layers, weights, mtime, bool(kwargs["cuda"]))


def _metrics(kwargs: dict, health_wanted: Health) -> dict:
    """torch-fidelity's calculate_metrics for one feature extractor, step by step: its extractor, feature cache,
    IS and precision/recall; FID and KID from the same features in torch on the scoring device (distances.py); the
    health metrics from FID's features (health.py)."""
    from torch_fidelity import metrics as tf

    wanted = [m for m in ("isc", "fid", "kid", "prc") if kwargs[m]]
    layers = {m: tf.resolve_feature_layer_for_metric(m, **kwargs) for m in wanted}
    if health_wanted.metrics:
        layers["health"] = tf.resolve_feature_layer_for_metric("fid", **kwargs)
    extractor = _extractor(kwargs["feature_extractor"], tuple(sorted(set(layers.values()))), kwargs)
    if not kwargs["cuda"]:
        kwargs = {**kwargs, "batch_size": min(kwargs["batch_size"], CPU_BATCH)}
    device = torch.device("cuda" if kwargs["cuda"] else "cpu")
    with precision.autocast(health_wanted.extractor_precision, device):  # bf16: the extractor's forward only
        fakes = _as_float(_features(1, extractor, kwargs))
        reals = _as_float(_features(2, extractor, kwargs)) if set(layers) - {"isc"} else None
    out = {}
    if "isc" in layers:
        out |= tf.isc_featuresdict_to_metric(fakes, layers["isc"], **kwargs)
    if "fid" in layers:
        out[KEY_FID] = distances.fid(fakes[layers["fid"]], reals[layers["fid"]], device)
    if "kid" in layers:
        f1, f2 = fakes[layers["kid"]], reals[layers["kid"]]
        if min(len(f1), len(f2)) < kwargs["kid_subset_size"]:
            raise EvalError(f"KID subsets of {kwargs['kid_subset_size']} from sets of {len(f1)} and {len(f2)}")
        seed = kwargs["rng_seed"]
        out[KEY_KID], out[KEY_KID_STD] = distances.kid(
            f1, f2, kwargs["kid_subsets"], kwargs["kid_subset_size"], seed, device
        )
    if "prc" in layers:
        out |= tf.prc_featuresdict_to_metric(fakes, reals, layers["prc"], **kwargs)
    if "health" in layers:
        real, fake = reals[layers["health"]], fakes[layers["health"]]
        k = health_wanted.dc_neighborhood
        out |= health.metrics(health_wanted.metrics, real, fake, health_wanted.labels, k, device)
    if device.type == "cuda":
        torch.cuda.empty_cache()  # hand back what scoring took, for the training (and packed jobs) around it
    return out
