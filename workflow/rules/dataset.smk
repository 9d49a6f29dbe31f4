import os


localrules:
    download_dataset,
    get_dataset,


# Kaggle credentials are optional (kagglehub also reads ~/.kaggle/access_token and
# ~/.kaggle/kaggle.json): they are declared, and so checked and passed on to jobs, only when the
# environment sets them: the API token, or the legacy username and key.
if DATASET["source"] == "kaggle" and "KAGGLE_API_TOKEN" in os.environ:

    envvars:
        "KAGGLE_API_TOKEN",


if DATASET["source"] == "kaggle" and "KAGGLE_USERNAME" in os.environ:

    envvars:
        "KAGGLE_USERNAME",
        "KAGGLE_KEY",


rule download_dataset:
    """Download the url archive or Kaggle dataset into the cache once (verified, never deleted); its receipt."""
    output:
        out=resources("downloads/dataset.json"),
    log:
        logs("download_dataset/download_dataset.log"),
    benchmark:
        benchmarks("download_dataset/download_dataset.tsv")
    conda:
        ENV
    params:
        **download_settings(),
        source=DATASET["source"],
        cache=CACHE,
    script:
        "../../scripts/download_dataset.py"


rule get_dataset:
    """Put the images in place: synthetic, a local folder, or the cached url archive or Kaggle dataset."""
    input:
        local_files=local_dataset_files,
        receipt=dataset_receipt,
    output:
        out=directory(resources("dataset/images")),
        not_read=results("dataset/not_read.tsv"),
    log:
        logs("get_dataset/get_dataset.log"),
    benchmark:
        benchmarks("get_dataset/get_dataset.tsv")
    conda:
        ENV
    params:
        **dataset_settings(),
        source=DATASET["source"],
        code_digest=code_digest("get_dataset.py"),
    script:
        "../../scripts/get_dataset.py"


rule build_manifest:
    """Decode every image once; manifest, skipped files and counts."""
    input:
        images=rules.get_dataset.output.out,
        not_read=rules.get_dataset.output.not_read,
    output:
        manifest=results("dataset/manifest.parquet"),
        skipped=report(
            results("dataset/skipped.tsv"),
            caption=caption("skipped"),
            category="1. Data",
        ),
        duplicates=results("dataset/duplicates.tsv"),
        counts=results("dataset/counts.json"),
    log:
        logs("build_manifest/build_manifest.log"),
    benchmark:
        benchmarks("build_manifest/build_manifest.tsv")
    conda:
        ENV
    params:
        bad_images=DATASET["bad_images"],
        split_duplicates=DATASET["split_duplicates"],
        code_digest=code_digest("build_manifest.py"),
    script:
        "../../scripts/build_manifest.py"


rule dataset_examples:
    """Example validation images per class, resized as the model sees them."""
    input:
        manifest=rules.build_manifest.output.manifest,
    output:
        figure=report(
            results("dataset/examples.png"),
            caption=caption("examples"),
            category="1. Data",
        ),
    log:
        logs("dataset_examples/dataset_examples.log"),
    benchmark:
        benchmarks("dataset_examples/dataset_examples.tsv")
    conda:
        ENV
    params:
        image_size=FEATURES["image_size"],
        resize=FEATURES["resize"],
        code_digest=code_digest("dataset_examples.py"),
    script:
        "../../scripts/dataset_examples.py"
