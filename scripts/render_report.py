#!/usr/bin/env python
"""Stage 7: render results/report.html, one self-contained page; every number is read
from a results file given on the command line, every caption from workflow/report/*.rst."""

import argparse
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from poolkit import cli
from poolkit.io import atomic_path, read_json
from poolkit.report import Section, figure, key_values, paragraph, read_captions, render, table

#: Every results file the page reads: option name → what it is.
INPUTS = {
    "provenance": "provenance.json of the run",
    "counts": "dataset counts.json",
    "skipped": "dataset skipped.tsv",
    "weights_info": "weights.json",
    "features_info": "features.json",
    "exercise_info": "exercise.json",
    "condense_figure": "exercise figure",
    "ring_figure": "exercise figure",
    "gap_figure": "exercise figure",
    "summary_by_jitter": "invariance summary TSV",
    "depth_figure": "invariance figure",
    "shift_figure": "invariance figure",
    "shift_consistency": "VGG16-level consistency TSV",
    "consistency_figure": "VGG16-level consistency figure",
    "metrics": "head metrics.json",
    "baselines": "head baselines.tsv",
    "cv": "head cv.tsv",
    "coefficients": "head coefficients.tsv",
    "roc_figure": "head figure",
    "confusion_figure": "head figure",
    "calibration_figure": "head figure",
    "coefficients_figure": "head figure",
    "score_grids_figure": "features figure",
}


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    for name, text in INPUTS.items():
        p.add_argument("--" + name.replace("_", "-"), required=True, help=text)
    p.add_argument("--benchmarks", nargs="*", default=[], help="Snakemake benchmark TSVs of the stages")
    p.add_argument("--captions", nargs="+", required=True, help="caption files (workflow/report/*.rst)")
    p.add_argument("--template", required=True, help="the page template (workflow/report/report.html.j2)")
    p.add_argument("--out", required=True, help="output HTML")
    cli.config_option(p, "report.title")
    return p


def fmt_ci(entry: dict[str, float], digits: int = 3) -> str:
    """A value with its 95% interval."""
    return f"{entry['value']:.{digits}f} [{entry['ci_low']:.{digits}f}, {entry['ci_high']:.{digits}f}]"


def fmt_share(row: pd.Series, column: str) -> str:
    """A share in percent with its 95% interval, from a summary row."""
    return f"{100 * row[column]:.1f} % [{100 * row[column + '_lo']:.1f}, {100 * row[column + '_hi']:.1f}]"


def load(args: argparse.Namespace) -> SimpleNamespace:
    """Read every input file once."""
    tsv = {"skipped", "summary_by_jitter", "shift_consistency", "baselines", "cv", "coefficients"}
    data = {
        name: pd.read_csv(getattr(args, name), sep="\t") if name in tsv else read_json(getattr(args, name))
        for name in INPUTS
        if not name.endswith("_figure")
    }
    return SimpleNamespace(**data, captions=read_captions(args.captions), args=args)


def ring_rows(d: SimpleNamespace) -> pd.DataFrame:
    """Summary rows of the ring at the exercise's jitter, random shifts, deepest pooling."""
    s = d.summary_by_jitter
    ring = s[(s["input"] == "ring") & (s["mode"] == "random") & (s["jitter"] == d.exercise_info["ring"]["jitter"])]
    return ring[ring["depth"] == ring["depth"].max()].set_index("pooling")


def headline_cards(d: SimpleNamespace) -> list[dict[str, str]]:
    """The numbers at the top of the page."""
    m, ring, jitter = d.metrics, ring_rows(d), d.exercise_info["ring"]["jitter"]
    cards = [
        {"key": "accuracy", "label": "validation accuracy", "value": f"{m['accuracy']['value']:.3f}",
         "note": f"95% CI [{m['accuracy']['ci_low']:.3f}, {m['accuracy']['ci_high']:.3f}]"},
        {"key": "roc_auc", "label": "ROC AUC", "value": f"{m['roc_auc']['value']:.3f}",
         "note": f"95% CI [{m['roc_auc']['ci_low']:.3f}, {m['roc_auc']['ci_high']:.3f}]"},
        {"key": "n_valid", "label": "validation images", "value": str(m["n_valid"]), "note": f"{m['n_train']} training"},
    ]  # fmt: skip
    for pooling in ("max", "avg"):
        if pooling in ring.index:
            cards.append(
                {
                    "key": f"ring_{pooling}_identical",
                    "label": f"ring, ±{jitter} px, {int(ring['depth'].max())} {pooling} pools",
                    "value": fmt_share(ring.loc[pooling], "identical_share"),
                    "note": "identical to unshifted",
                }
            )
    return cards


def data_section(d: SimpleNamespace) -> Section:
    counts, skipped = d.counts, d.skipped
    blocks = [
        table(
            pd.DataFrame([{"split/class": k, "images": v} for k, v in counts["per_split_class"].items()]),
            left=["split/class"],
        ),
        paragraph(
            f"Colour modes: {counts['modes']}; formats: {counts['formats']}; bad-image policy: "
            f"{counts['bad_images_policy']}. Every image is converted to RGB before use."
        ),
        paragraph(f"Skipped files: {len(skipped)}.")
        if skipped.empty
        else table(skipped[["image_id", "reason"]], left=["image_id", "reason"], caption=d.captions["skipped"]),
    ]
    return Section("data", "Data", blocks)


def exercise_section(d: SimpleNamespace) -> Section:
    ex, cap, a = d.exercise_info, d.captions, d.args
    blocks = [
        figure(
            a.condense_figure,
            cap["condense"],
            note=f"{ex['condense']['filtered_shape']} → {ex['condense']['condensed_shape']} pixels; "
            f"{100 * ex['condense']['share_zero_after_relu']:.0f} % of the filtered pixels are zero after ReLU.",
        ),
        figure(
            a.ring_figure,
            cap["ring_condensed"],
            note=f"Radius {ex['ring']['radius']} px; final map identical to the unshifted one: "
            f"{ex['ring']['final_identical_to_unshifted']}.",
        ),
        figure(
            a.gap_figure,
            cap["gap_maps"],
            note="Pooled values: " + ", ".join(f"{v:.2f}" for v in ex["gap"]["pooled"]) + ".",
        ),
    ]
    return Section("exercise", "The exercise", blocks)


def invariance_section(d: SimpleNamespace) -> Section:
    cap, a = d.captions, d.args
    shown = d.summary_by_jitter
    shown = shown[(shown["mode"] == "random") & (shown["jitter"] == d.exercise_info["ring"]["jitter"])]
    columns = ["input", "pooling", "depth", "n_trials", "identical_share", "identical_share_lo", "identical_share_hi"]
    blocks = [
        figure(a.depth_figure, cap["identical_vs_depth"]),
        figure(a.shift_figure, cap["difference_vs_shift"]),
        figure(a.consistency_figure, cap["shift_consistency_fig"]),
        table(d.shift_consistency, 3, caption=cap["shift_consistency"]),
        table(shown[columns], 3, left=["input", "pooling"], caption=cap["summary_by_jitter"]),
    ]
    return Section("invariance", "Invariance", blocks)


def features_section(d: SimpleNamespace) -> Section:
    feats, params = d.features_info, d.metrics["parameters"]
    blocks = [
        paragraph(
            f"VGG16's base turns a {feats['image_size']}×{feats['image_size']} image into a "
            f"{'×'.join(map(str, feats['feature_map_shape']))} map; global average pooling keeps "
            f"{feats['n_features']} scores. A dense head needs {params['gap_head']} weights on them, against "
            f"{params['flatten_head']} on the flattened map ({params['ratio']:.1f}× more)."
        ),
        figure(d.args.score_grids_figure, d.captions["score_grids"]),
    ]
    return Section("features", "Features", blocks)


def head_section(d: SimpleNamespace) -> Section:
    m, cap, a = d.metrics, d.captions, d.args
    columns = ["model", "accuracy", "accuracy_lo", "accuracy_hi", "roc_auc", "log_loss", "brier"]
    blocks = [
        paragraph(
            f"Standardised logistic regression, C chosen by {m['cv_folds']}-fold stratified cross-validation "
            f"(log loss) on {m['n_train']} training images: C = {m['chosen_C']:g}. Evaluated once on "
            f"{m['n_valid']} validation images."
        ),
        key_values({k: fmt_ci(m[k]) for k in ("accuracy", "balanced_accuracy", "roc_auc", "log_loss", "brier")}),
        table(d.baselines[columns], 3, left=["model"], caption=cap["baselines"]),
        table(d.cv, 4, caption="Cross-validated log loss per C."),
        figure(a.roc_figure, cap["roc"]),
        figure(a.confusion_figure, cap["confusion"]),
        figure(a.calibration_figure, cap["calibration"]),
        figure(a.coefficients_figure, cap["coefficients"]),
        table(d.coefficients.head(10), 3, left=["feature"]),
    ]
    return Section("head", "Head", blocks)


def stage_timings(paths: list[str]) -> pd.DataFrame:
    """Wall time and peak memory of each job, from Snakemake's benchmark files."""
    rows = []
    for path in sorted(paths):
        frame = pd.read_csv(path, sep="\t")
        job = f"{Path(path).parent.name}/{Path(path).stem}"
        rows.append(
            {"job": job, "wall (s)": float(frame["s"].iloc[0]), "max RSS (MB)": float(frame["max_rss"].iloc[0])}
        )
    return pd.DataFrame(rows)


def run_section(d: SimpleNamespace) -> Section:
    prov, feats, weights, cfg = d.provenance, d.features_info, d.weights_info, d.provenance["config"]
    summary = {
        "dataset source": cfg["dataset"]["source"],
        "images (usable / skipped)": f"{d.counts['n_images']} / {d.counts['n_skipped']}",
        "weights": f"{weights['source']}"
        + (f" (seed {weights['seed']})" if "seed" in weights else f" ({weights.get('source_file', '')})"),
        "weights sha256 (values)": prov["weights_sha256"],
        "manifest sha256": prov["manifest_sha256"],
        "preprocessing / resize / precision": f"{feats['preprocessing']} / {feats['resize']} to "
        f"{feats['image_size']}×{feats['image_size']} / {feats['precision']} ({feats['precision_reason']})",
        "seeds": f"dataset {cfg['dataset']['synthetic']['seed']}, weights {cfg['weights']['seed']}, "
        f"trials {cfg['invariance']['seeds']}, head {cfg['head']['seed']}, exercise {cfg['exercise']['seed']}",
        "git commit": prov["git_commit"],
        "CPU": prov["cpu"],
        "python / platform": f"{prov['python']} / {prov['platform']}",
        "packages": ", ".join(f"{k} {v}" for k, v in sorted(prov["packages"].items())),
    }
    blocks = [key_values(summary)]
    if d.args.benchmarks:
        blocks.append(
            table(
                stage_timings(d.args.benchmarks), 4, left=["job"], caption="Stage timings (Snakemake benchmark files)."
            )
        )
    return Section("run", "Run details", blocks)


def main(args: argparse.Namespace) -> None:
    d = load(args)
    sections = [
        data_section(d),
        exercise_section(d),
        invariance_section(d),
        features_section(d),
        head_section(d),
        run_section(d),
    ]
    with atomic_path(args.out) as tmp:
        tmp.write_text(render(args.template, args.title, headline_cards(d), sections), encoding="utf-8")


if __name__ == "__main__":
    cli.run(build_parser, main)
