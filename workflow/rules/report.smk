import json

import poolkit.findings


localrules:
    record_provenance,


rule record_provenance:
    """Config, package versions, manifest and weights hashes, git commit: in every results folder."""
    input:
        manifest="results/dataset/manifest.parquet",
        weights_info="results/weights/weights.json",
    output:
        out=[
            "results/provenance.json",
            *expand(
                "results/{stage}/provenance.json",
                stage=[
                    "dataset",
                    "weights",
                    "features",
                    "exercise",
                    "invariance",
                    "head",
                ],
            ),
        ],
    log:
        "logs/record_provenance/record_provenance.log",
    conda:
        ENV
    params:
        config_json=json.dumps(config, sort_keys=True),
        code_digest=code_digest("record_provenance.py"),
    script:
        "../../scripts/record_provenance.py"


rule render_report:
    """One self-contained HTML page: findings first, every figure and table, run details last."""
    input:
        provenance="results/provenance.json",
        counts="results/dataset/counts.json",
        weights_info="results/weights/weights.json",
        features_info="results/features/features.json",
        exercise_info="results/exercise/exercise.json",
        metrics="results/head/metrics.json",
        skipped="results/dataset/skipped.tsv",
        summary_by_jitter="results/invariance/summary_by_jitter.tsv",
        summary_by_shift="results/invariance/summary_by_shift.tsv",
        shift_consistency="results/head/shift_consistency.tsv",
        shift_pairs="results/head/shift_pairs.tsv",
        heads="results/head/heads.tsv",
        differences="results/head/differences.tsv",
        cv="results/head/cv.tsv",
        coefficients="results/head/coefficients.tsv",
        examples_figure="results/dataset/examples.png",
        condense_figure="results/exercise/condense.png",
        ring_figure="results/exercise/ring_condensed.png",
        gap_figure="results/exercise/gap_maps.png",
        depth_figure="results/invariance/identical_vs_depth.png",
        gap_equal_figure="results/invariance/gap_equal_vs_depth.png",
        shift_figure="results/invariance/difference_vs_shift.png",
        consistency_figure="results/head/shift_consistency.png",
        score_grids_figure="results/head/score_grids.png",
        heads_figure="results/head/heads.png",
        roc_figure="results/head/roc.png",
        confusion_figure="results/head/confusion.png",
        calibration_figure="results/head/calibration.png",
        coefficients_figure="results/head/coefficients.png",
        benchmarks=BENCHMARKS,
    output:
        out="results/report.html",
    log:
        "logs/render_report/render_report.log",
    conda:
        ENV
    params:
        title=config["report"]["title"],
        code_digest=code_digest("render_report.py"),
    script:
        "../../scripts/render_report.py"


onsuccess:
    # What the run found: headline numbers and the report's path (those that exist after a
    # partial run); printed once, by the main process, not by cluster jobs.
    if workflow.is_main_process:
        found = poolkit.findings.run_summary(
            metrics=rules.fit_head.output.metrics,
            summary_by_jitter=rules.aggregate_trials.output.by_jitter,
            shift_consistency=rules.shift_consistency.output.out,
            report=rules.render_report.output.out,
            jitter=EXERCISE["jitter"],
        )
        if found:
            print("\nWhat this run found (95% intervals):\n  " + "\n  ".join(found))
