"""The report page's sections: what each shows, built as blocks of :mod:`poolkit.report` from the
results files, which the report stage reads once into :class:`PageData`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from . import findings
from .invariance import shown_jitter
from .report import Section, figure, file_link, key_values, paragraph, table

#: The JSON records the page reads: name → what it is.
JSON_INPUTS = {
    "provenance": "the run's provenance record (JSON)",
    "counts": "the dataset's counts (JSON)",
    "weights_info": "the weights' description (JSON)",
    "features_info": "the feature stage's description (JSON)",
    "exercise_info": "the exercise figures' numbers (JSON)",
    "metrics": "the heads' metrics (JSON)",
}
#: The tables the page reads (and offers as downloads): name → what it is.
TSV_INPUTS = {
    "skipped": "the dataset's skipped files",
    "summary_by_jitter": "invariance summary per jitter",
    "summary_by_shift": "invariance summary per shift size",
    "variant_heads": "each base variant's refitted head",
    "variant_consistency": "consistency per base variant, protocol and max shift",
    "variant_differences": "each variant's consistency minus max's, on the same pairs",
    "worst_shift": "the worst shift per base variant and protocol",
    "heads": "every head's metrics",
    "differences": "paired differences between heads",
    "cv": "cross-validation per head and C",
    "coefficients": "the GAP head's coefficients",
}
#: Files the page embeds as they are: the figures, and the list of images in both splits.
FILE_INPUTS = {
    **{
        name: "PNG figure"
        for name in (
            "examples_figure",
            "condense_figure",
            "ring_figure",
            "gap_maps_figure",
            "depth_figure",
            "gap_equal_figure",
            "shift_figure",
            "consistency_figure",
            "score_grids_figure",
            "heads_figure",
            "roc_figure",
            "confusion_figure",
            "calibration_figure",
            "coefficients_figure",
        )
    },
    "duplicates": "the dataset's image contents found in both splits (TSV)",
}
#: Size of the real Car or Truck dataset (Kaggle), for the cost of the feature-map table at full size.
REAL_DATASET_IMAGES = 10_168


@dataclass(frozen=True)
class PageData:
    """Everything the page shows, read once: the JSON records, the tables, the captions, the paths of
    the files it embeds (:data:`TSV_INPUTS` and :data:`FILE_INPUTS`) and of the stages' benchmarks."""

    provenance: dict[str, Any]
    counts: dict[str, Any]
    weights_info: dict[str, Any]
    features_info: dict[str, Any]
    exercise_info: dict[str, Any]
    metrics: dict[str, Any]
    skipped: pd.DataFrame
    summary_by_jitter: pd.DataFrame
    summary_by_shift: pd.DataFrame
    variant_heads: pd.DataFrame
    variant_consistency: pd.DataFrame
    variant_differences: pd.DataFrame
    worst_shift: pd.DataFrame
    heads: pd.DataFrame
    differences: pd.DataFrame
    cv: pd.DataFrame
    coefficients: pd.DataFrame
    captions: dict[str, str]
    files: Mapping[str, str]
    benchmarks: Sequence[str] = ()

    @property
    def config(self) -> dict[str, Any]:
        """The run's config, as recorded in its provenance."""
        return self.provenance["config"]


def sections(d: PageData) -> list[Section]:
    """The page's sections, in order: findings first, run details last."""
    return [
        findings_section(d),
        data_section(d),
        exercise_section(d),
        invariance_section(d),
        network_section(d),
        features_section(d),
        heads_section(d),
        run_section(d),
    ]


def figure_jitter(d: PageData) -> int:
    """The jitter the invariance tables and findings show: the exercise's, if it was run."""
    return shown_jitter(d.summary_by_jitter, d.exercise_info["ring"]["jitter"])


def findings_section(d: PageData) -> Section:
    """The findings, in plain sentences, and how their intervals are made."""
    jitter = figure_jitter(d)
    items = [
        findings.caveat(d.weights_info["source"], d.config["dataset"]["source"]),
        *findings.ring_findings(d.summary_by_jitter, jitter),
        *findings.circular_findings(d.summary_by_jitter, jitter),
        *findings.network_findings(
            d.variant_heads, d.variant_consistency, d.variant_differences, d.weights_info["source"] == "random"
        ),
        *findings.worst_shift_findings(d.worst_shift),
        *findings.head_findings(d.heads, d.differences),
    ]
    block = {"kind": "findings", "items": [item for item in items if item is not None]}
    return Section(
        "findings",
        "Findings",
        [
            block,
            paragraph(
                "Intervals are 95%: Wilson score intervals for shares of "
                "trials, t intervals for mean differences (the synthetic shapes' random trials), and, with "
                "the images as the sampling units, Korn–Graubard intervals for shares and t intervals for means "
                "of the grey dataset images' trials (clustered by image) and of the whole network's consistency "
                "and its differences (each image gives several pairs), none for exact shares (every shift "
                "enumerated), percentile bootstraps over validation images for classification metrics and "
                "paired differences."
            ),
        ],
    )


def headline_cards(d: PageData) -> list[dict[str, str]]:
    """The numbers at the top of the page."""
    m, jitter = d.metrics, figure_jitter(d)
    ring = findings.deepest_rows(d.summary_by_jitter, "ring", jitter)
    cards = [
        {
            "key": "accuracy",
            "label": "GAP head accuracy",
            "value": f"{m['accuracy']['value']:.3f}",
            "note": f"95% CI [{m['accuracy']['ci_low']:.3f}, {m['accuracy']['ci_high']:.3f}]",
        },
        {
            "key": "roc_auc",
            "label": "GAP head ROC AUC",
            "value": f"{m['roc_auc']['value']:.3f}",
            "note": f"95% CI [{m['roc_auc']['ci_low']:.3f}, {m['roc_auc']['ci_high']:.3f}]",
        },
        {
            "key": "n_valid",
            "label": "validation images",
            "value": str(m["n_valid"]),
            "note": f"{m['n_train']} training",
        },
    ]
    for pooling in ("max", "avg"):
        if ("replicate", pooling) in ring.index:
            row = ring.loc[("replicate", pooling)]
            value, note = findings.percent(row, "identical_share"), "identical to unshifted"
            if findings.is_exact(row):
                value = f"{100 * row['identical_share']:.1f} %"
                note += (
                    f": {findings.exact_count(row, 'identical_share').split(' =')[0]} shifts, exact; "
                    f"{100 * row['identical_course_share']:.1f} % under the course's shifts"
                )
            cards.append(
                {
                    "key": f"ring_{pooling}_identical",
                    "value": value,
                    "label": f"ring, ±{jitter} px, {int(d.summary_by_jitter['depth'].max())} {pooling} pools",
                    "note": note,
                }
            )
    return cards


def data_section(d: PageData) -> Section:
    """Example images, counts per split and class, the source and what was skipped."""
    counts, skipped = d.counts, d.skipped
    per_class = pd.DataFrame([{"split/class": k, "images": v} for k, v in counts["per_split_class"].items()])
    blocks = [
        figure(
            d.files["examples_figure"],
            d.captions["examples"],
            alt="Example validation images of each class at the model's input size",
        ),
        table(per_class, left=["split/class"]),
        paragraph(
            f"Source: {d.config['dataset']['source']}. Colour modes: {counts['modes']}; formats: "
            f"{counts['formats']}; bad-image policy: {counts['bad_images_policy']}. Every image is converted "
            f"to RGB before use. Skipped files (unreadable, or not read: listed with the reason): {len(skipped)}. "
            f"Image contents found in both splits (by sha256): {counts['n_split_duplicates']} (policy: "
            f"{counts['split_duplicates_policy']})."
        ),
    ]
    if counts["n_split_duplicates"]:
        blocks.append(file_link(d.files["duplicates"], "Images in both splits"))
    if not skipped.empty:
        blocks.append(
            table(skipped[["image_id", "reason"]].head(20), left=["image_id", "reason"], caption=d.captions["skipped"])
        )
        blocks.append(file_link(d.files["skipped"], "All skipped files"))
    return Section("data", "Data", blocks)


def exercise_section(d: PageData) -> Section:
    """The exercise's three figures with their numbers."""
    ex, cap, files = d.exercise_info, d.captions, d.files
    ring_note = (
        f"Radius {ex['ring']['radius']} px; final {'×'.join(map(str, ex['ring']['final_shape']))} map "
        f"identical to the unshifted one for {sum(ex['ring']['final_identical_to_unshifted'])} of "
        f"{len(ex['ring']['final_identical_to_unshifted'])} shifts shown."
    )
    blocks = [
        figure(
            files["condense_figure"],
            cap["condense"],
            note=f"{ex['condense']['filtered_shape']} → "
            f"{ex['condense']['condensed_shape']} pixels; {100 * ex['condense']['share_zero_after_relu']:.0f} % of "
            "the filtered pixels are zero after ReLU.",
        ),
        figure(files["ring_figure"], cap["ring_condensed"], note=ring_note),
        figure(
            files["gap_maps_figure"],
            cap["gap_maps"],
            note="Pooled values: " + ", ".join(f"{v:.2f}" for v in ex["gap"]["pooled"]) + ".",
        ),
    ]
    return Section("exercise", "The exercise", blocks)


def share_pivot(summary: pd.DataFrame, input_name: str, jitter: int, column: str) -> pd.DataFrame:
    """Fill × pooling rows, one column per depth, cells ``share [low, high]`` in percent
    (``share (k/n, exact)`` where every shift was enumerated)."""
    rows = summary[(summary["input"] == input_name) & (summary["mode"] == "random") & (summary["jitter"] == jitter)]
    cells = rows.assign(cell=[findings.share_cell(r, column) for _, r in rows.iterrows()])
    pivot = cells.pivot_table(index=["fill", "pooling"], columns="depth", values="cell", aggfunc="first")
    pivot.columns = [f"depth {c} (%)" for c in pivot.columns]
    return pivot.reset_index()


def invariance_section(d: PageData) -> Section:
    """The trials' figures and share tables per input, and the full summaries."""
    cap, files, jitter, s = d.captions, d.files, figure_jitter(d), d.summary_by_jitter
    inputs = [i for i in ("ring", "dataset") if i in set(s["input"])]
    blocks = [
        paragraph(
            "Each trial shifts a test image by an integer (dx, dy), drawn uniformly within ± the jitter, pools "
            "the shifted and the unshifted copy 1 to 4 times and compares them. Every fill sees the same shifts. "
            "A synthetic shape is one fixed image, so up to the largest jitter whose every shift is enumerated its "
            "shares are exact (the random trials only estimate them); the grey dataset images' intervals take "
            "the images as the units, since trials of one image are not independent."
        ),
        figure(files["depth_figure"], cap["identical_vs_depth"]),
        figure(files["gap_equal_figure"], cap["gap_equal_vs_depth"]),
    ]
    for name in inputs:
        label = "the ring" if name == "ring" else "grey validation images"
        blocks.append(
            table(
                share_pivot(s, name, jitter, "identical_share"),
                left=["fill", "pooling"],
                caption=f"Identical output, {label}, shifts up to ±{jitter} px: share of trials [95% interval], "
                "or of every shift where exact.",
            )
        )
        blocks.append(
            table(
                share_pivot(s, name, jitter, "gap_equal_share"),
                left=["fill", "pooling"],
                caption=f"Unchanged global average, {label}, shifts up to ±{jitter} px.",
            )
        )
    blocks += [
        figure(files["shift_figure"], cap["difference_vs_shift"]),
        paragraph("The full tables: " + cap["summary_by_jitter"]),
        file_link(files["summary_by_jitter"], "Full summary per input, fill, jitter, pooling and depth"),
        file_link(files["summary_by_shift"], "Full summary per shift size"),
    ]
    return Section("invariance", "Invariance", blocks)


def variant_table(heads: pd.DataFrame, consistency: pd.DataFrame) -> pd.DataFrame:
    """The findings table: a row per base variant, its accuracy, then "consistency [interval]" per
    protocol and max shift."""
    cells = consistency.assign(
        column=[f"{r.protocol} s={r.max_shift} (%)" for r in consistency.itertuples()],
        cell=[findings.percent(r, "consistency").replace(" %", "") for _, r in consistency.iterrows()],
    ).pivot(index="variant", columns="column", values="cell")
    order = list(dict.fromkeys(f"{r.protocol} s={r.max_shift} (%)" for r in consistency.itertuples()))
    accuracy = [findings.interval(r.accuracy, r.accuracy_lo, r.accuracy_hi) for r in heads.itertuples()]
    shown = pd.DataFrame({"variant": heads["variant"], "accuracy": accuracy, "C": heads["chosen_C"]})
    return shown.join(cells[order], on="variant")


def worst_shift_table(worst: pd.DataFrame) -> pd.DataFrame:
    """The worst-shift table: a row per base variant and protocol, "share [interval]" cells in percent."""
    cells = {
        "variant": worst["variant"],
        "protocol": worst["protocol"],
        "shifts": [f"{r.n_shifts} (−{r.max_shift}..{r.max_shift - 1})" for r in worst.itertuples()],
        "images fooled": [f"{r.n_fooled}/{r.n_images}" for r in worst.itertuples()],
    }
    for column, label in (("fooled_share", "fooled (%)"), ("changed_share", "shifts changing the class (%)")):
        cells[label] = [findings.percent(r, column).replace(" %", "") for _, r in worst.iterrows()]
    cells["worst |Δp|"] = [findings.interval(r.worst_dp, r.worst_dp_lo, r.worst_dp_hi) for r in worst.itertuples()]
    return pd.DataFrame(cells)


def worst_shift_blocks(d: PageData) -> list[dict[str, Any]]:
    """The worst shift's paragraph (geometry and cost against one consistency protocol), table and download."""
    worst, net = d.worst_shift, d.config["invariance"]["network"]
    if worst.empty:
        return []
    s, n = int(worst["max_shift"].iloc[0]), int(worst["n_images"].max())
    cost = n * (2 * s) ** 2
    protocol_cost = int(d.variant_consistency["n_images"].max()) * net["passes"] * len(net["max_shifts"]) * 2
    text = (
        f"The worst shift: for {n} validation images, every integer shift (dy, dx) with both in −{s}..{s - 1} "
        f"({(2 * s) ** 2} copies, the unshifted reference among them) is scored under each protocol: circular, "
        "the image rolled; crop, the centre crop of the image resized to "
        f"{net['resize_to']} px, moved by the shift (the reference is the centre crop). An image is fooled when "
        f"any shift changes its class. {cost:,} VGG16 passes per variant and protocol, against {protocol_cost:,} "
        "for one consistency protocol."
    )
    return [
        paragraph(text),
        table(worst_shift_table(worst), left=["variant", "protocol"], caption=d.captions["worst_shift"]),
        file_link(d.files["worst_shift"], "The worst shift per variant and protocol"),
    ]


def network_section(d: PageData) -> Section:
    """The whole network with its pools swapped: consistency, refitted heads, the worst shift."""
    files, cap, net = d.files, d.captions, d.config["invariance"]["network"]
    heads, consistency = d.variant_heads, d.variant_consistency
    same = consistency.groupby("protocol")["n_same_offset"].sum()
    blocks = [
        paragraph(
            "The whole network, VGG16 + GAP + a logistic head, with the base's five max pools swapped and its "
            "weights unchanged (no retraining); each variant's head is refitted on its own GAP scores. "
            f"{int(consistency['n_images'].max())} validation images (the count used; invariance.network.n_images "
            f"asks for {net['n_images']}), {net['passes']} pairs each per max shift. Crop protocol (Zhang, "
            f"ICML 2019): the image resized once to {net['resize_to']} px, two {d.features_info['image_size']} px "
            "crops at offsets drawn independently per copy and axis in 0..s−1 (s at most "
            f"{net['resize_to'] - d.features_info['image_size']}, Zhang's range). Circular protocol (APS): two "
            "circular rolls by offsets in −s..s−1. No copy holds a filled pixel. Pairs whose two copies are "
            "identical by construction: "
            + ", ".join(f"{protocol} {int(n)}" for protocol, n in same.items())
            + " (counted in the consistency; the table's consistency_shifted leaves them out)."
        ),
        table(variant_table(heads, consistency), left=["variant"], caption=cap["variant_consistency"]),
        figure(files["consistency_figure"], cap["variant_consistency_fig"]),
        table(
            heads[["variant", "chosen_C", "accuracy", "n_sample", "sample_accuracy", "centre_accuracy"]],
            left=["variant"],
            caption=cap["variant_heads"],
        ),
        file_link(files["variant_consistency"], "Consistency per variant, protocol and max shift"),
        file_link(files["variant_differences"], "Each variant's consistency minus max's, with paired intervals"),
        file_link(files["variant_heads"], "Each variant's refitted head"),
        *worst_shift_blocks(d),
    ]
    return Section("network", "Whole network: pooling swapped", blocks)


def features_section(d: PageData) -> Section:
    """What pooling keeps of VGG16's feature map, its cost on disk and in memory, the score grids."""
    feats, params = d.features_info, d.metrics["parameters"]
    per_image = feats["maps_bytes_per_image"]
    blocks = [
        paragraph(
            f"VGG16's base turns a {feats['image_size']}×{feats['image_size']} image into a "
            f"{'×'.join(map(str, feats['feature_map_shape']))} map; global average pooling keeps "
            f"{feats['n_features']} scores, global max pooling another {feats['n_features']}, Flatten all "
            f"{feats['maps_values_per_image']:,} values. A dense head needs {params['gap_head']:,} weights on the "
            f"pooled scores, against {params['flatten_head']:,} on the flattened map ({params['ratio']:.1f}× more)."
        ),
        paragraph(
            f"The feature-map table ({feats['n_images']:,} images, Parquet, zstd) takes "
            f"{feats['maps_file_bytes'] / 1e6:.1f} MB, "
            f"{per_image / 1e3:.1f} kB per image; at the real dataset's {REAL_DATASET_IMAGES:,} images that is about "
            f"{per_image * REAL_DATASET_IMAGES / 1e6:.0f} MB on disk (maps of other weights compress differently), "
            f"and the Flatten head holds {REAL_DATASET_IMAGES * feats['maps_values_per_image'] * 8 / 1e9:.2f} GB of "
            "float64 values in memory."
        ),
        figure(d.files["score_grids_figure"], d.captions["score_grids"]),
    ]
    return Section("features", "Features", blocks)


def heads_section(d: PageData) -> Section:
    """Every head's metrics, their paired differences and figures."""
    m, cap, files, heads = d.metrics, d.captions, d.files, d.heads
    shown = pd.DataFrame(
        {
            "head": heads["model"],
            "parameters": [f"{p:,}" for p in heads["parameters"]],
            "accuracy": [
                findings.interval(r["accuracy"], r["accuracy_lo"], r["accuracy_hi"]) for _, r in heads.iterrows()
            ],
            "ROC AUC": [findings.interval(r["roc_auc"], r["roc_auc_lo"], r["roc_auc_hi"]) for _, r in heads.iterrows()],
            "log loss": [
                findings.interval(r["log_loss"], r["log_loss_lo"], r["log_loss_hi"]) for _, r in heads.iterrows()
            ],
        }
    )
    diffs = pd.DataFrame(
        {
            "comparison": d.differences["comparison"],
            "metric": d.differences["metric"],
            "difference [95% interval]": [
                findings.interval(r["difference"], r["ci_low"], r["ci_high"], signed=True)
                for _, r in d.differences.iterrows()
            ],
        }
    )
    blocks = [
        paragraph(
            f"Standardised logistic regression, C chosen by {m['cv_folds']}-fold stratified cross-validation "
            f"repeated {m['cv_repeats']} times (log loss; rule {m['c_rule']}) on {m['n_train']} "
            f"training images, for each head; all evaluated once on the same "
            f"{m['n_valid']} validation images. {findings.GAP_CLAIM}"
        ),
        figure(files["heads_figure"], cap["heads_fig"]),
        table(shown, left=["head"], caption=cap["heads"]),
        table(diffs, left=["comparison", "metric"], caption=cap["differences"]),
        figure(files["roc_figure"], cap["roc"]),
        figure(files["confusion_figure"], cap["confusion"]),
        figure(files["calibration_figure"], cap["calibration"]),
        figure(files["coefficients_figure"], cap["coefficients"]),
        file_link(files["heads"], "Every head's metrics"),
        file_link(files["differences"], "Paired differences"),
        file_link(files["cv"], "Cross-validation per head and C"),
        file_link(files["coefficients"], "The GAP head's 512 coefficients"),
    ]
    return Section("heads", "Heads", blocks)


def stage_timings(paths: Sequence[str]) -> pd.DataFrame:
    """Per rule, from Snakemake's benchmark files (one per job): its jobs, their summed and longest
    wall time, and the largest peak memory; one row per rule however many shards it ran."""
    jobs = pd.DataFrame(
        [
            {"rule": Path(path).parent.name, **pd.read_csv(path, sep="\t").iloc[0][["s", "max_rss"]].to_dict()}
            for path in sorted(paths)
        ],
        columns=["rule", "s", "max_rss"],
    )
    table = jobs.groupby("rule", sort=False).agg(
        jobs=("s", "size"), total=("s", "sum"), longest=("s", "max"), rss=("max_rss", "max")
    )
    return table.reset_index().rename(
        columns={"total": "wall, all jobs (s)", "longest": "longest job (s)", "rss": "max RSS (MB)"}
    )


def run_section(d: PageData) -> Section:
    """Config, data and weights digests, machine, packages and stage timings."""
    prov, feats, weights, cfg = d.provenance, d.features_info, d.weights_info, d.config
    summary = {
        "run": f"{cfg['run']['name']} (results/{cfg['run']['name']}/; downloads cached in {cfg['run']['cache']})",
        "dataset source": cfg["dataset"]["source"],
        "images (usable / skipped)": f"{d.counts['n_images']} / {d.counts['n_skipped']}",
        "weights": weights["source"]
        + (f" (seed {weights['seed']})" if "seed" in weights else f" ({weights.get('source_file', '')})"),
        "weights sha256 (values)": prov["weights_sha256"],
        "manifest sha256": prov["manifest_sha256"],
        "preprocessing / resize / precision": f"{feats['preprocessing']} / {feats['resize']} to {feats['image_size']}×"
        f"{feats['image_size']} / {feats['precision']} ({feats['precision_reason']})",
        "seeds": f"dataset {cfg['dataset']['synthetic']['seed']}, weights {cfg['weights']['seed']}, "
        f"trials {cfg['invariance']['seeds']}, head {cfg['head']['seed']}, exercise {cfg['exercise']['seed']}",
        "git commit": prov["git_commit"],
        "CPU": prov["cpu"],
        "python / platform": f"{prov['python']} / {prov['platform']}",
        "packages": ", ".join(f"{k} {v}" for k, v in sorted(prov["packages"].items())),
    }
    blocks = [key_values(summary)]
    if d.benchmarks:
        blocks.append(
            table(
                stage_timings(d.benchmarks),
                4,
                left=["rule"],
                caption="Stage timings per rule (Snakemake benchmark files; sharded rules summed over their jobs).",
            )
        )
    return Section("run", "Run details", blocks)
