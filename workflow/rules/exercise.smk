rule exercise_figures:
    """The exercise's figures: condense a car, the shifted ring, GAP of random maps."""
    input:
        manifest=rules.build_manifest.output.manifest,
    output:
        condense=report(
            results("exercise/condense.png"),
            caption=caption("condense"),
            category="2. The exercise",
        ),
        ring=report(
            results("exercise/ring_condensed.png"),
            caption=caption("ring_condensed"),
            category="2. The exercise",
        ),
        gap_maps=report(
            results("exercise/gap_maps.png"),
            caption=caption("gap_maps"),
            category="2. The exercise",
        ),
        info=results("exercise/exercise.json"),
    log:
        logs("exercise_figures/exercise_figures.log"),
    benchmark:
        benchmarks("exercise_figures/exercise_figures.tsv")
    conda:
        ENV
    params:
        seed=EXERCISE["seed"],
        ring_size=EXERCISE["ring_size"],
        r_shrink=EXERCISE["r_shrink"],
        jitter=EXERCISE["jitter"],
        code_digest=code_digest("exercise_figures.py"),
    script:
        "../../scripts/exercise_figures.py"
