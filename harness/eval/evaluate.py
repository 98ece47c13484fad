"""The torch-fidelity adapter: the only module that knows its arguments and result keys (features.py runs its extractor
over the images)."""

import functools
import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from harness.config.specs import HEALTH_METRICS, DataSpec, EvalSpec
from harness.core import atomic, precision
from harness.core.errors import EvalError, explain_os_error
from harness.core.paths import cache_dir, inception_weights
from harness.eval import distances, features, health
from harness.eval.features import Generated, Uint8Images, balanced_labels

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


def sample_labels(n: int, num_classes: int, seed: int) -> torch.Tensor | None:
    """The labels `generate` gives its n samples under `seed` (None for an unconditional G)."""
    return balanced_labels(n, num_classes, torch.Generator().manual_seed(seed)) if num_classes else None


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
    """Samples from G (in eval mode) as uint8 on the CPU: features.Generated's samples, made on `device`. `share`
    (a range of sample indices) makes only those, so ranks can split the work and the samples are the same however
    many ranks make them. num_classes > 0 asks a conditional G for class-balanced samples."""
    return Generated(G, n, z_dim, seed, num_classes, share, batch_size).materialise(torch.device(device)).images


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
    fakes: torch.Tensor | Generated,
    reals: torch.Tensor,
    ref_key: str,
    spec: EvalSpec,
    cuda: bool,
    labels: tuple = (None, None),
    plain: bool = False,
) -> dict:
    """FID / KID / IS / precision-recall and the health metrics of fakes (uint8 images, or samples of G made as
    they are scored) against uint8 reals; reals' features are cached under ref_key, computed by one process while
    others wait. `labels`: (reals' labels, fakes' labels) for a conditional G (per-class health metrics), else
    (None, None). `plain`: torch-fidelity's own feature loop rather than the harness's (features.py), the same
    numbers to float32 rounding, slower: the baseline the fast path is tested and benchmarked against."""
    weights, _, has_head = extractor()
    want = set(spec.metrics)
    wanted_health = want & set(HEALTH_METRICS)
    kwargs = dict(
        input1=fakes if isinstance(fakes, Generated) else Uint8Images(fakes),
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
    wanted = Wanted(wanted_health, labels, spec.dc_neighborhood, spec.extractor_precision, plain)
    if reference_cached(ref_key):
        log.info(f"reference features: cached ({ref_key})")
        return _calculate(kwargs, wanted)
    with reference_lock(ref_key):
        cached = reference_cached(ref_key)  # another process may have written them while this one waited
        log.info(f"reference features: {'cached' if cached else f'computing {len(reals)} images'} ({ref_key})")
        return _calculate(kwargs, wanted)


@dataclass(frozen=True)
class Wanted:
    """What a score asks for beyond torch-fidelity's arguments: the health metrics (harness/eval/health.py) and what
    they need beyond the features; the extractor's precision (the protocol's, never the job's training precision);
    which feature loop runs."""

    health: set[str]
    labels: tuple  # (reals' labels, fakes' labels), or (None, None)
    dc_neighborhood: int
    extractor_precision: str = "fp32"
    plain: bool = False  # torch-fidelity's loop (evaluate.score)


def _calculate(kwargs: dict, wanted: Wanted) -> dict:
    with precision.flags(wanted.extractor_precision):  # TF32 off unless the protocol asks for it
        scores = _scores(kwargs, wanted)
    if kwargs["cuda"]:  # the features are freed by now: hand back what scoring took, for the training around it
        torch.cuda.empty_cache()
    return scores


def _scores(kwargs: dict, wanted: Wanted) -> dict:
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


def _features(input_id: int, extractor, kwargs: dict, wanted: Wanted) -> dict:
    """The features of input 1 (fakes) or 2 (reals, cached), with the cache kept here in torch-fidelity's file
    layout: torch-fidelity's own lookup unpickles cache files, and a shared cache folder must not run code. Hits are
    read with weights_only=True and must be this input's features (one finite row per image, the layer's width): any
    other file is recomputed and replaced, so one bad file never breaks every later score."""
    from torch_fidelity import utils as tfu

    name = tfu.get_cacheable_input_name(input_id, **kwargs) if input_id == 2 else None
    if name is None:
        return _extract(input_id, extractor, kwargs, wanted)
    prefix = fidelity_cache() / f"{name}-{extractor.get_name()}-features-"
    paths = {layer: Path(f"{prefix}{layer}.pt") for layer in extractor.get_requested_features_list()}
    rows = len(kwargs[f"input{input_id}"])
    if all(path.exists() for path in paths.values()):
        try:
            cached = {layer: _load_features(path) for layer, path in paths.items()}
        except Exception as e:
            log.warning(f"cached features {prefix}* are not plain tensors ({type(e).__name__}); recomputing")
        else:
            problems = [f"{paths[layer]} {why}" for layer, t in cached.items() if (why := _unfit(t, layer, rows))]
            if not problems:
                return cached
            log.warning(f"cached features {problems[0]}; recomputing")
    extracted = _extract(input_id, extractor, kwargs, wanted)
    for layer, path in paths.items():
        if why := _unfit(extracted[layer], layer, rows):  # what a later read would refuse is not kept
            log.warning(f"features of {name} not cached: they {why}")
        else:
            atomic.save_torch(path, extracted[layer].cpu())
    return extracted


def _load_features(path: Path) -> object:
    st = path.stat()
    return _loaded(str(path), st.st_ino, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _loaded(path: str, inode: int, size: int, mtime_ns: int) -> object:
    """A cached feature file, read once per process while it stays the same file: a suite's jobs share a reference,
    and 50k reference features are 400 MB to read. Callers must not change the tensor in place."""
    return torch.load(path, map_location="cpu", weights_only=True)


def _extract(input_id: int, extractor, kwargs: dict, wanted: Wanted) -> dict:
    """The extractor's features of input 1 or 2: torch-fidelity's loop (on the CPU) or the harness's (on the
    scoring device)."""
    images = kwargs[f"input{input_id}"]
    device = torch.device("cuda" if kwargs["cuda"] else "cpu")
    if not wanted.plain:
        return features.extract(images, extractor, device)
    from torch_fidelity import utils as tfu

    batch = kwargs["batch_size"] if kwargs["cuda"] else min(kwargs["batch_size"], features.EXTRACTOR_BATCH["cpu"])
    plain = {**kwargs, f"input{input_id}": images.materialise(device), "batch_size": batch}
    return tfu.extract_featuresdict_from_input_id(input_id, extractor, **plain)


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


@functools.cache
def _cached_extractor(name: str, layers: tuple[str, ...], weights: str | None, mtime_ns: int, cuda: bool, nhwc: bool):
    from torch_fidelity import metrics as tf

    kwargs = dict(feature_extractor_weights_path=weights, cuda=cuda, verbose=False)
    extractor = tf.create_feature_extractor(name, list(layers), **kwargs)
    return features.channels_last(extractor) if nhwc else extractor


def _extractor(name: str, layers: tuple[str, ...], kwargs: dict, plain: bool = False):
    """torch-fidelity's extractor, built once per process (loading ~100 MB of weights took ~1 s a score):
    channels-last, except on a GPU for the plain path (torch-fidelity's own, as its loop runs it)."""
    weights = kwargs.get("feature_extractor_weights_path")
    mtime = Path(weights).stat().st_mtime_ns if weights else 0  # a rebuilt file is read again
    cuda = bool(kwargs["cuda"])
    return _cached_extractor(name, layers, weights, mtime, cuda, not (plain and cuda))


def _metrics(kwargs: dict, wanted: Wanted) -> dict:
    """torch-fidelity's calculate_metrics for one feature extractor, step by step: its extractor, the features
    (features.py's loop, or torch-fidelity's for `plain`) and their cache, IS and precision/recall; FID and KID from
    the same features in torch on the scoring device (distances.py); the health metrics from FID's features
    (health.py)."""
    from torch_fidelity import metrics as tf

    metrics = [m for m in ("isc", "fid", "kid", "prc") if kwargs[m]]
    layers = {m: tf.resolve_feature_layer_for_metric(m, **kwargs) for m in metrics}
    if wanted.health:
        layers["health"] = tf.resolve_feature_layer_for_metric("fid", **kwargs)
    extractor = _extractor(kwargs["feature_extractor"], tuple(sorted(set(layers.values()))), kwargs, wanted.plain)
    device = torch.device("cuda" if kwargs["cuda"] else "cpu")
    with precision.autocast(wanted.extractor_precision, device):  # bf16: the extractor's forward only
        fakes = _as_float(_features(1, extractor, kwargs, wanted))
        reals = _as_float(_features(2, extractor, kwargs, wanted)) if set(layers) - {"isc"} else None
    out = {}
    if "isc" in layers:  # torch-fidelity's own metrics take the features on the CPU, as its loop gives them
        out |= tf.isc_featuresdict_to_metric(_on_cpu(fakes), layers["isc"], **kwargs)
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
        out |= tf.prc_featuresdict_to_metric(_on_cpu(fakes), _on_cpu(reals), layers["prc"], **kwargs)
    if "health" in layers:
        real, fake = reals[layers["health"]], fakes[layers["health"]]
        k = wanted.dc_neighborhood
        # density/coverage (prdc) computes in numpy: the features on the CPU, as torch-fidelity's loop gave them
        out |= health.metrics(wanted.health, real.cpu(), fake.cpu(), wanted.labels, k, device)
    return out


def _on_cpu(features: dict) -> dict:
    return {k: v.cpu() for k, v in features.items()}
