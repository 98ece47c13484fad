import dataclasses

import pytest

from harness.config import protocols
from harness.config.specs import EvalSpec
from harness.core.errors import ConfigError
from harness.plan.suite import expand
from tests.helpers import tiny_job


def test_the_default_eval_spec_is_the_default_protocol():
    assert protocols.name_of(EvalSpec()) == protocols.DEFAULT == "fid10k-train"


@pytest.mark.parametrize("name", protocols.PRESETS.names())
def test_every_preset_names_itself(name):
    assert protocols.name_of(protocols.apply(EvalSpec(), name)) == name


def test_changing_a_protocol_field_makes_a_custom_protocol_but_every_and_metrics_do_not():
    spec = protocols.apply(EvalSpec(), "fid10k-train")
    assert protocols.name_of(dataclasses.replace(spec, every=5, metrics=("fid",), batch_size=8)) == "fid10k-train"
    custom = protocols.name_of(dataclasses.replace(spec, n_samples=9000))
    assert custom.startswith("custom-") and custom != protocols.name_of(dataclasses.replace(spec, n_samples=8000))


def test_describe_records_what_a_score_depends_on():
    job = tiny_job(metrics=("fid",))
    record = protocols.describe(job, protocols.apply(job.eval, "fid64-test"), 64, "abc123", conditional=False)
    assert record["name"] == "fid64-test" and record["reference"]["split"] == "test" and record["reference"]["n"] == 64
    assert record["extractor"] == "inception-v3-compat:abc123" and record["generator"] == "G"
    for key in ("n_samples", "kid_subset_size", "kid_subsets", "isc_splits", "resize", "samples", "labels"):
        assert key in record


def _suite(eval_block, **top):
    return {"matrix": {"arch": ["dcgan"], "dataset": ["synthetic"], "epochs": [1]}, "defaults": {"eval": eval_block},
            **top}  # fmt: skip


def test_a_suite_names_a_protocol_and_refines_it():
    job = expand(_suite({"protocol": "fid10k-test", "every": 2, "kid_subsets": 10}), "t").jobs[0]
    assert (job.eval.n_samples, job.eval.ref_split, job.eval.every, job.eval.kid_subsets) == (10000, "test", 2, 10)


def test_a_later_level_protocol_replaces_an_earlier_levels_settings():
    raw = _suite(
        {"n_samples": 64, "kid_subset_size": 32}, overrides={"arch": {"dcgan": {"eval": {"protocol": "fid5k-train"}}}}
    )
    assert expand(raw, "t").jobs[0].eval.n_samples == 5000


@pytest.mark.parametrize(
    "eval_block,fragment",
    [
        ({"protocol": "fid1m"}, "defaults.eval.protocol: unknown protocol 'fid1m'; valid: fid10k-test"),
        ({"ref_split": "val"}, "eval.ref_split: 'val'; valid: train, test"),
        ({"n_samples": 5, "kid_subset_size": 5}, "eval.n_samples: 5 < eval.isc_splits 10"),
        ({"ref_size": 1}, "eval.ref_size"),
    ],
)
def test_bad_protocol_settings_are_refused(eval_block, fragment):
    with pytest.raises(ConfigError, match=None) as err:
        expand(_suite(eval_block), "t")
    assert fragment in str(err.value)
