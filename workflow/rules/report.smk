import json


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
    """One self-contained HTML page with every figure and table."""
    input:
        "results/provenance.json",
        "results/dataset/counts.json",
        "results/dataset/skipped.tsv",
        "results/weights/weights.json",
        "results/features/features.json",
        "results/exercise/exercise.json",
        "results/exercise/condense.png",
        "results/exercise/ring_condensed.png",
        "results/exercise/gap_maps.png",
        "results/invariance/summary_by_jitter.tsv",
        "results/invariance/identical_vs_depth.png",
        "results/invariance/difference_vs_shift.png",
        "results/head/metrics.json",
        "results/head/shift_consistency.tsv",
        "results/head/shift_consistency.png",
        benchmarks=BENCHMARKS,
    output:
        out="results/report.html",
    log:
        "logs/render_report/render_report.log",
    conda:
        ENV
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        results=lambda wildcards, output: Path(output.out).parent,
        title=config["report"]["title"],
        code_digest=code_digest("render_report.py"),
    script:
        "../../scripts/render_report.py"
