import json

import poolkit.findings


localrules:
    record_provenance,


rule record_provenance:
    """Config, package versions, manifest and weights hashes, git commit: in every results folder."""
    input:
        manifest=rules.build_manifest.output.manifest,
        weights_info=rules.prepare_weights.output.info,
    output:
        out=[
            results("provenance.json"),
            *expand(
                results("{stage}/provenance.json"),
                stage=[
                    "dataset",
                    "weights",
                    "features",
                    "exercise",
                    "invariance",
                    "head",
                    "network",
                ],
            ),
        ],
    log:
        logs("record_provenance/record_provenance.log"),
    benchmark:
        benchmarks("record_provenance/record_provenance.tsv")
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
        provenance=rules.record_provenance.output.out[0],
        counts=rules.build_manifest.output.counts,
        weights_info=rules.prepare_weights.output.info,
        features_info=rules.merge_features.output.info,
        exercise_info=rules.exercise_figures.output.info,
        metrics=rules.fit_head.output.metrics,
        skipped=rules.build_manifest.output.skipped,
        duplicates=rules.build_manifest.output.duplicates,
        summary_by_jitter=rules.aggregate_trials.output.by_jitter,
        summary_by_shift=rules.aggregate_trials.output.by_shift,
        variant_heads=rules.variant_consistency.output.heads,
        variant_consistency=rules.variant_consistency.output.consistency,
        variant_differences=rules.variant_consistency.output.differences,
        worst_shift=rules.worst_shift.output.out,
        heads=rules.fit_head.output.heads,
        differences=rules.fit_head.output.differences,
        cv=rules.fit_head.output.cv,
        coefficients=rules.fit_head.output.coefficients,
        examples_figure=rules.dataset_examples.output.figure,
        condense_figure=rules.exercise_figures.output.condense,
        ring_figure=rules.exercise_figures.output.ring,
        gap_maps_figure=rules.exercise_figures.output.gap_maps,
        depth_figure=rules.aggregate_trials.output.depth_figure,
        gap_equal_figure=rules.aggregate_trials.output.gap_equal_figure,
        shift_figure=rules.aggregate_trials.output.shift_figure,
        consistency_figure=rules.variant_consistency.output.figure,
        score_grids_figure=rules.fit_head.output.score_grids_figure,
        heads_figure=rules.fit_head.output.heads_figure,
        roc_figure=rules.fit_head.output.roc_figure,
        confusion_figure=rules.fit_head.output.confusion_figure,
        calibration_figure=rules.fit_head.output.calibration_figure,
        coefficients_figure=rules.fit_head.output.coefficients_figure,
        benchmarks=stage_benchmarks(),
    output:
        out=results("report.html"),
    log:
        logs("render_report/render_report.log"),
    benchmark:
        benchmarks("render_report/render_report.tsv")
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
            variant_consistency=rules.variant_consistency.output.consistency,
            report=rules.render_report.output.out,
            jitter=EXERCISE["jitter"],
        )
        if found:
            print(
                f"\nWhat run {RUN!r} found (95% intervals; its files: results/{RUN}/):\n  "
                + "\n  ".join(found)
            )
