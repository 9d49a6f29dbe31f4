rule run_trials:
    """One shard of shift-invariance trials: 'grid' (every small shift) or 's<seed>' (random)."""
    input:
        manifest=rules.build_manifest.output.manifest,
    output:
        out=results("invariance/trials/{tshard}.parquet"),
    log:
        logs("run_trials/{tshard}.log"),
    benchmark:
        benchmarks("run_trials/{tshard}.tsv")
    wildcard_constraints:
        tshard="grid|s[0-9]+",
    group:
        "trials"
    conda:
        ENV
    params:
        **poolkit.invariance.TrialSettings.params(config),
        n_dataset_images=INVARIANCE["n_dataset_images"],
        shard=lambda wildcards: wildcards.tshard,
        code_digest=code_digest("run_trials.py"),
    script:
        "../../scripts/run_trials.py"


rule aggregate_trials:
    """Merge trial shards into summaries with 95% intervals made as each input's design allows, and the figures.

    summary_by_jitter: one row per input, mode (grid, random), fill, jitter, pooling, depth;
    summary_by_shift: one row per input, fill, pooling, depth and shift size max(|dx|, |dy|) of the
    random trials. Columns: interval_method (exact: a synthetic input with every shift enumerated,
    the value over all of them, _lo = _hi = the value; wilson_t: a synthetic input beyond the grid,
    trials independent, Wilson intervals for shares and t for means; image_clustered: the dataset
    input, whose trials are clustered by image, Korn-Graubard intervals for shares and t for means
    with the images as the sampling units),
    n_trials (trials of the row in the shards), n_images (distinct images among them), n_shifts
    (exact rows: shifts enumerated), each share {metric}_share with _lo and _hi (and, by jitter,
    {metric}_course_share: exact rows' share under the course's random_transform shift
    distribution), each mean with _lo and _hi. Random rows of a synthetic input at a jitter up to
    invariance.exhaustive_max_jitter report the grid's exact values: the random trials only
    estimate them."""
    input:
        trials=expand(rules.run_trials.output.out, tshard=TRIAL_SHARDS),
    output:
        by_jitter=report(
            results("invariance/summary_by_jitter.tsv"),
            caption=caption("summary_by_jitter"),
            category="3. Invariance",
        ),
        by_shift=results("invariance/summary_by_shift.tsv"),
        depth_figure=report(
            results("invariance/identical_vs_depth.png"),
            caption=caption("identical_vs_depth"),
            category="3. Invariance",
        ),
        gap_equal_figure=report(
            results("invariance/gap_equal_vs_depth.png"),
            caption=caption("gap_equal_vs_depth"),
            category="3. Invariance",
        ),
        shift_figure=report(
            results("invariance/difference_vs_shift.png"),
            caption=caption("difference_vs_shift"),
            category="3. Invariance",
        ),
    log:
        logs("aggregate_trials/aggregate_trials.log"),
    benchmark:
        benchmarks("aggregate_trials/aggregate_trials.tsv")
    conda:
        ENV
    params:
        figure_jitter=EXERCISE["jitter"],
        code_digest=code_digest("aggregate_trials.py"),
    script:
        "../../scripts/aggregate_trials.py"
