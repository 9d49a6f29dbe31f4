#!/usr/bin/env python
"""Stage 7: render results/report.html, one self-contained page; every number is read
from a file under results/."""

from pathlib import Path

import pandas as pd

from poolkit import cli
from poolkit.io import atomic_path, read_json
from poolkit.report import figure, key_values, paragraph, render, table


def fmt_ci(entry: dict[str, float]) -> str:
    """A value with its 95% interval, three decimals."""
    return f"{entry['value']:.3f} [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"


def stage_timings(paths: list[str]) -> pd.DataFrame:
    rows = []
    for path in sorted(paths):
        frame = pd.read_csv(path, sep="\t")
        rows.append(
            {
                "job": str(Path(path).relative_to("benchmarks").with_suffix("")),
                "wall (s)": float(frame["s"].iloc[0]),
                "max RSS (MB)": float(frame["max_rss"].iloc[0]),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--results", default="results")
    p.add_argument("--out", required=True)
    p.add_argument("--title", default="Maximum pooling, measured")
    p.add_argument("--benchmarks", nargs="*", default=[], help="Snakemake benchmark TSVs")
    args = p.parse_args()
    r = Path(args.results)

    prov = read_json(r / "provenance.json")
    counts = read_json(r / "dataset/counts.json")
    skipped = pd.read_csv(r / "dataset/skipped.tsv", sep="\t")
    weights = read_json(r / "weights/weights.json")
    feats = read_json(r / "features/features.json")
    exercise = read_json(r / "exercise/exercise.json")
    metrics = read_json(r / "head/metrics.json")
    by_jitter = pd.read_csv(r / "invariance/summary_by_jitter.tsv", sep="\t")
    consistency = pd.read_csv(r / "head/shift_consistency.tsv", sep="\t")
    baselines = pd.read_csv(r / "head/baselines.tsv", sep="\t")
    cv = pd.read_csv(r / "head/cv.tsv", sep="\t")
    coefs = pd.read_csv(r / "head/coefficients.tsv", sep="\t")
    cfg = prov["config"]

    ring_j = exercise["ring"]["jitter"]
    ring = by_jitter[(by_jitter["input"] == "ring") & (by_jitter["mode"] == "random") & (by_jitter["jitter"] == ring_j)]
    deepest = int(ring["depth"].max()) if len(ring) else 0

    def ring_share(pooling: str) -> str:
        row = ring[(ring["pooling"] == pooling) & (ring["depth"] == deepest)]
        if row.empty:
            return "n/a"
        x = row.iloc[0]
        return f"{100 * x['identical_share']:.1f} % [{100 * x['identical_share_lo']:.1f}, {100 * x['identical_share_hi']:.1f}]"

    cards = [
        {
            "key": "accuracy",
            "label": "validation accuracy",
            "value": f"{metrics['accuracy']['value']:.3f}",
            "note": f"95% CI [{metrics['accuracy']['ci_low']:.3f}, {metrics['accuracy']['ci_high']:.3f}]",
        },
        {
            "key": "roc_auc",
            "label": "ROC AUC",
            "value": f"{metrics['roc_auc']['value']:.3f}",
            "note": f"95% CI [{metrics['roc_auc']['ci_low']:.3f}, {metrics['roc_auc']['ci_high']:.3f}]",
        },
        {
            "key": "n_valid",
            "label": "validation images",
            "value": str(metrics["n_valid"]),
            "note": f"{metrics['n_train']} training",
        },
        {
            "key": "ring_max_identical",
            "label": f"ring, ±{ring_j} px, {deepest} max pools",
            "value": ring_share("max"),
            "note": "identical to unshifted",
        },
        {
            "key": "ring_avg_identical",
            "label": f"ring, ±{ring_j} px, {deepest} avg pools",
            "value": ring_share("avg"),
            "note": "identical to unshifted",
        },
    ]

    summary = {
        "dataset source": cfg["dataset"]["source"],
        "images (usable / skipped)": f"{counts['n_images']} / {counts['n_skipped']}",
        "weights": f"{weights['source']}"
        + (f" (seed {weights['seed']})" if "seed" in weights else f" ({weights.get('source_file', '')})"),
        "weights sha256 (values)": prov["weights_sha256"],
        "manifest sha256": prov["manifest_sha256"],
        "preprocessing / resize / precision": f"{feats['preprocessing']} / {feats['resize']} to "
        f"{feats['image_size']}×{feats['image_size']} / {feats['precision']} ({feats['precision_reason']})",
        "seeds": f"dataset {cfg['dataset']['synthetic']['seed']}, weights {cfg['weights']['seed']}, "
        f"trials {cfg['invariance']['seeds']}, head {cfg['head']['seed']}, exercise {cfg['exercise']['seed']}",
        "git commit": prov["git_commit"],
        "python / platform": f"{prov['python']} / {prov['platform']}",
        "packages": ", ".join(f"{k} {v}" for k, v in sorted(prov["packages"].items())),
    }
    timings = stage_timings(args.benchmarks) if args.benchmarks else pd.DataFrame()
    run_blocks = [key_values(summary)]
    if not timings.empty:
        run_blocks += [paragraph("Stage timings (Snakemake benchmark files):"), table(timings, 4, left=["job"])]
    bench_json = r / "benchmarks/bench.json"
    if bench_json.exists():
        bench = read_json(bench_json)
        run_blocks += [
            paragraph(f"Latest `make bench` on {bench.get('machine', '?')}:"),
            table(
                pd.DataFrame(bench["table"])[["measure", "value", "unit", "note"]], 4, left=["measure", "unit", "note"]
            ),
        ]

    data_blocks = [
        table(
            pd.DataFrame([{"split/class": k, "images": v} for k, v in counts["per_split_class"].items()]),
            left=["split/class"],
        ),
        paragraph(
            f"Colour modes: {counts['modes']}; formats: {counts['formats']}; bad-image policy: {counts['bad_images_policy']}. "
            "Every image is converted to RGB before use."
        ),
        paragraph(f"Skipped files: {len(skipped)}.")
        if skipped.empty
        else table(skipped[["image_id", "reason"]], left=["image_id", "reason"]),
    ]
    ex = exercise
    exercise_blocks = [
        figure(
            r / "exercise/condense.png",
            f"Emboss kernel, ReLU, then one 2×2 max pool: {ex['condense']['filtered_shape']} → {ex['condense']['condensed_shape']} pixels; "
            f"{100 * ex['condense']['share_zero_after_relu']:.0f} % of the filtered pixels are zero after ReLU.",
        ),
        figure(
            r / "exercise/ring_condensed.png",
            f"The ring (radius {ex['ring']['radius']} px) shifted at random by up to ±{ex['ring']['jitter']} px and max-pooled "
            f"{ex['ring']['repeats']} times; final map identical to the unshifted one: {ex['ring']['final_identical_to_unshifted']}.",
        ),
        figure(
            r / "exercise/gap_maps.png",
            f"Global average pooling reduces each 5×5 map to one value ({ex['gap']['values_per_map_before']} → 1).",
        ),
    ]
    shown = by_jitter[(by_jitter["mode"] == "random")][
        [
            "input",
            "jitter",
            "pooling",
            "depth",
            "n_trials",
            "identical_share",
            "identical_share_lo",
            "identical_share_hi",
            "nl2",
            "aligned_identical_share",
        ]
    ]
    inv_blocks = [
        paragraph(
            "Each trial shifts a test image by an integer (dx, dy), pools both copies 1–4 times and compares. "
            "Shares are means over trials with 95% bootstrap intervals."
        ),
        figure(
            r / "invariance/identical_vs_depth.png",
            "Share of trials whose pooled output is exactly identical to the unshifted one, by depth.",
        ),
        figure(
            r / "invariance/difference_vs_shift.png",
            "Normalised L2 difference after the deepest pooling, by shift size (band: 95% CI).",
        ),
        figure(
            r / "head/shift_consistency.png",
            "Whole pipeline: share of shifted copies with the same predicted class as the unshifted image, and cosine similarity of the 512 scores.",
        ),
        table(consistency, 3),
        table(shown[shown["jitter"] == ring_j], 3, left=["input", "pooling"]),
    ]
    params = metrics["parameters"]
    feature_blocks = [
        paragraph(
            f"VGG16's base turns a {feats['image_size']}×{feats['image_size']} image into a {'×'.join(map(str, feats['feature_map_shape']))} map; "
            f"global average pooling keeps {feats['n_features']} scores. A dense head needs {params['gap_head']} weights on them, "
            f"against {params['flatten_head']} on the flattened map ({params['ratio']:.1f}× more). "
            f"Extraction ran at {feats['images_per_s']} images/s over {feats['n_images']} images in {feats['shards']} shard(s)."
        ),
        figure(
            r / "head/score_grids.png",
            "The 512 GAP scores as a 16×32 grid: example cars and trucks and the class means.",
        ),
    ]
    m = metrics
    head_blocks = [
        paragraph(
            f"Standardised logistic regression, C chosen by {m['cv_folds']}-fold stratified cross-validation (log loss) "
            f"on {m['n_train']} training images: C = {m['chosen_C']:g}. Evaluated once on {m['n_valid']} validation images."
        ),
        key_values({k: fmt_ci(m[k]) for k in ("accuracy", "balanced_accuracy", "roc_auc", "log_loss", "brier")}),
        paragraph("All models on the same validation split (95% bootstrap intervals):"),
        table(
            baselines[["model", "accuracy", "accuracy_lo", "accuracy_hi", "roc_auc", "log_loss", "brier"]],
            3,
            left=["model"],
        ),
        table(cv, 4),
        figure(r / "head/roc.png", "ROC curve on the validation split."),
        figure(r / "head/confusion.png", "Confusion matrix on the validation split."),
        figure(r / "head/calibration.png", "Calibration: observed share of trucks per bin of predicted probability."),
        figure(r / "head/coefficients.png", "The largest coefficients (standardised scores)."),
        table(coefs.head(10), 3, left=["feature"]),
    ]
    sections = [
        {"id": "run", "title": "Run summary", "blocks": run_blocks},
        {"id": "data", "title": "Data", "blocks": data_blocks},
        {"id": "exercise", "title": "The exercise", "blocks": exercise_blocks},
        {"id": "invariance", "title": "Invariance", "blocks": inv_blocks},
        {"id": "features", "title": "Features", "blocks": feature_blocks},
        {"id": "head", "title": "Head", "blocks": head_blocks},
    ]
    with atomic_path(args.out) as tmp:
        tmp.write_text(render(args.title, cards, sections), encoding="utf-8")


if __name__ == "__main__":
    cli.run(main)
