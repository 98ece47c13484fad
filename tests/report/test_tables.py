import pandas as pd
import pytest

from harness.core.errors import ConfigError
from harness.report import tables


def jobs(**extra) -> pd.DataFrame:
    rows = [
        # arch, dataset, res, seed, fid, kid, protocol
        ("dcgan", "cifar10", 32, 0, 40.0, 0.030, "fid10k-train"),
        ("dcgan", "cifar10", 32, 1, 42.0, 0.032, "fid10k-train"),
        ("wgan-gp", "cifar10", 32, 0, 30.0, 0.020, "fid10k-train"),
        ("wgan-gp", "cifar10", 32, 1, 34.0, 0.026, "fid10k-train"),
        ("wgan-gp", "cifar10", 32, 0, 99.0, 0.090, "fid64-train"),  # another protocol: never averaged in
        ("sngan", "cifar10", 32, 0, 10.0, 0.010, None),  # failed: no protocol, not in the table
    ]
    frame = pd.DataFrame(rows, columns=["arch", "dataset", "resolution", "seed", "fid", "kid", "protocol"])
    state = ["done"] * 5 + ["failed"]
    return frame.assign(variant="", classes="all", epochs=10, state=state, **{"is": float("nan")}, **extra)


def test_one_table_per_protocol_with_mean_std_and_interval_over_seeds():
    t = tables.headline(jobs())
    assert sorted(t) == ["fid10k-train", "fid64-train"]
    main = t["fid10k-train"].set_index("arch")
    assert main.loc["dcgan", "seeds"] == 2 and main.loc["dcgan", "fid_mean"] == 41.0
    assert main.loc["wgan-gp", "fid_mean"] == 32.0 and "sngan" not in main.index
    assert main.loc["dcgan", "fid_lo"] == pytest.approx(41.0 - 12.706205 * 1.0)  # t(1) x the standard error 1
    assert t["fid64-train"].fid_mean.tolist() == [99.0]


def test_seeds_that_diverged_are_counted_beside_the_seeds_averaged():
    frame = jobs()
    diverged = frame.iloc[[0]].assign(seed=2, fid=float("nan"), kid=float("nan"), protocol=None, state="diverged")
    table = tables.headline(pd.concat([frame, diverged], ignore_index=True))["fid10k-train"]
    t = table.set_index("arch")
    assert t.loc["dcgan", "seeds"] == 2 and t.loc["dcgan", "diverged"] == 1 and t.loc["wgan-gp", "diverged"] == 0
    text = tables.markdown(table, "p")
    assert "| dcgan | cifar10 | 32px | 2 (+1 diverged) | **41.00 [28.29, 53.71]** |" in text


def test_markdown_bolds_the_best_and_what_two_seeds_cannot_tell_from_it_and_names_the_protocol():
    text = tables.markdown(tables.headline(jobs())["fid10k-train"], "fid10k-train")
    assert "Protocol `fid10k-train`" in text and "Welch's t-test" in text
    # Two seeds each: dcgan is 9 FID worse, but Welch's t on 2 + 2 seeds cannot tell (p ~ 0.1): tied, both bold.
    assert "| wgan-gp | cifar10 | 32px | 2 | **32.00 [6.59, 57.41]** | **0.0230 [-0.0151, 0.0611]** | 1 |" in text
    assert "| dcgan | cifar10 | 32px | 2 | **41.00 [28.29, 53.71]** | **0.0310 [0.0183, 0.0437]** | 1 |" in text
    assert "IS" not in text  # no IS anywhere (weights without a head): no empty column


def test_latex_is_a_booktabs_tabular_with_escaped_names():
    frame = jobs()
    frame.loc[frame.arch == "dcgan", "dataset"] = "cats_dogs"
    text = tables.latex(tables.headline(frame)["fid10k-train"], "fid10k-train")
    lines = text.splitlines()
    assert lines[1] == r"\begin{tabular}{llllrrr}" and lines[2] == r"\toprule" and lines[-1] == r"\end{tabular}"
    assert r"arch & dataset & res & seeds & FID & KID & rank (FID) \\" in text
    dcgan = r"dcgan & cats\_dogs & 32px & 2 & \textbf{41.00 [28.29, 53.71]} & \textbf{0.0310 [0.0183, 0.0437]} & 1"
    assert dcgan in text
    assert r"\textbf{32.00 [6.59, 57.41]}" in text and r"\midrule" in text and r"\bottomrule" in text


def test_a_variant_column_appears_only_when_variants_differ():
    frame = jobs()
    assert "variant" not in tables.markdown(tables.headline(frame)["fid10k-train"], "p")
    frame.loc[frame.arch == "dcgan", "variant"] = "ema=0.999"
    text = tables.markdown(tables.headline(frame)["fid10k-train"], "p")
    assert "| arch | variant | dataset | res | seeds |" in text and "| ema=0.999 |" in text


def test_a_cut_groups_by_the_columns_asked_keeps_the_rows_asked_and_shows_the_metrics_asked():
    frame = jobs()
    frame.loc[frame.arch == "dcgan", "variant"] = "ema=0.999"
    [table] = tables.summarise(frame, rows=["variant"], metrics=["fid"], where={"arch": ["dcgan"]}).values()
    text = tables.markdown(table, "fid10k-train")
    assert "| variant | seeds | FID | rank (FID) |" in text
    assert "| ema=0.999 | 2 | **41.00 [28.29, 53.71]** | 1 |" in text
    assert "KID" not in text and "wgan-gp" not in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"rows": ["colour"]}, "'colour' is not a column"), ({"where": {"size": ["1"]}}, "'size' is not a column"),
     ({"metrics": ["lpips"]}, "--metric 'lpips'; valid: fid, kid, is")],
)  # fmt: skip
def test_a_cut_over_unknown_columns_or_metrics_is_a_clear_error(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        tables.summarise(jobs(), **kwargs)
