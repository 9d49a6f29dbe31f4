rule fit_head:
    """Logistic-regression heads on GAP, GMP, Flatten and pixels (C by CV), majority class; metrics, figures."""
    input:
        features=rules.merge_features.output.out,
        maps=rules.merge_features.output.maps,
        features_info=rules.merge_features.output.info,
        pixels=rules.extract_pixels.output.out,
    output:
        metrics=results("head/metrics.json"),
        model=results("head/model.pkl"),
        predictions=results("head/predictions.parquet"),
        cv=results("head/cv.tsv"),
        heads=report(
            results("head/heads.tsv"),
            caption=caption("heads"),
            category="5. Head",
        ),
        differences=report(
            results("head/differences.tsv"),
            caption=caption("differences"),
            category="5. Head",
        ),
        coefficients=results("head/coefficients.tsv"),
        roc=results("head/roc.tsv"),
        calibration=results("head/calibration.tsv"),
        heads_figure=report(
            results("head/heads.png"),
            caption=caption("heads_fig"),
            category="5. Head",
        ),
        roc_figure=report(
            results("head/roc.png"), caption=caption("roc"), category="5. Head"
        ),
        confusion_figure=report(
            results("head/confusion.png"),
            caption=caption("confusion"),
            category="5. Head",
        ),
        calibration_figure=report(
            results("head/calibration.png"),
            caption=caption("calibration"),
            category="5. Head",
        ),
        coefficients_figure=report(
            results("head/coefficients.png"),
            caption=caption("coefficients"),
            category="5. Head",
        ),
        score_grids_figure=report(
            results("head/score_grids.png"),
            caption=caption("score_grids"),
            category="4. Features",
        ),
    log:
        logs("fit_head/fit_head.log"),
    benchmark:
        benchmarks("fit_head/fit_head.tsv")
    conda:
        ENV
    params:
        **poolkit.head.HeadSettings.params(config),
        c_seeds=HEAD["c_seeds"],
        n_top=HEAD["n_top"],
        code_digest=code_digest("fit_head.py"),
    script:
        "../../scripts/fit_head.py"
