"""The batch and sample-size rules, in one place: a batch no larger than the images an epoch draws, and KID's
subsets and the neighbourhoods of precision/recall and density/coverage smaller than the sets they draw from.

The suite calls it as it loads, with the sizes a suite alone can tell (n_images, oversample, eval.ref_size); the
runner calls it again with the training set as read, and scoring with the reference set as built, so a folder
dataset of unknown size is refused before its first step and a protocol applied by `harness score` is checked too."""

from harness.config.specs import EvalSpec
from harness.core.errors import ConfigError


def check_sizes(
    where: str,
    batch_size: int | None = None,
    per_epoch: int | None = None,
    per_epoch_from: str = "",
    e: EvalSpec | None = None,
    n_reference: int | None = None,
    reference_from: str = "",
) -> None:
    """Raise ConfigError (one line, naming the key and the fix) for the first rule the given sizes break. A size that
    is None is not known yet: its rules wait. `*_from`: what the size came from, shown in the message."""
    source = f" ({per_epoch_from})" if per_epoch_from else ""
    if batch_size is not None and per_epoch is not None and batch_size > per_epoch:
        fix = "raise oversample" if per_epoch_from == "oversample" else "raise n_images"
        raise ConfigError(
            f"{where}.batch_size: {batch_size} > {per_epoch} training images per epoch{source}; "
            f"lower batch_size or {fix}"
        )
    if e is None or n_reference is None:
        return
    source = f" ({reference_from})" if reference_from else ""
    if "kid" in e.metrics and e.kid_subset_size > n_reference:
        raise ConfigError(
            f"{where}.eval.kid_subset_size: {e.kid_subset_size} > {n_reference} reference images{source}; KID draws "
            f"subsets of that size from them: set kid_subset_size ≤ {n_reference}"
        )
    for metric, k, name, what in e.neighbourhoods():
        if metric in e.metrics and n_reference <= k:
            raise ConfigError(
                f"{where}.eval.{name}: {k} ≥ {n_reference} reference images{source}; {what} needs more images than "
                "neighbours"
            )
