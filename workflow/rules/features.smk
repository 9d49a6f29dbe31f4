rule extract_features:
    """VGG16 base: 512 GAP scores and the last feature map per image, one shard of the manifest."""
    input:
        manifest=rules.build_manifest.output.manifest,
        weights=rules.prepare_weights.output.out,
        weights_info=rules.prepare_weights.output.info,
    output:
        out=results("features/shards/{shard}.parquet"),
        maps=results("features/shards/{shard}.maps.parquet"),
        info=results("features/shards/{shard}.json"),
    log:
        logs("extract_features/{shard}.log"),
    benchmark:
        benchmarks("extract_features/{shard}.tsv")
    wildcard_constraints:
        shard="[0-9]+",
    conda:
        ENV
    params:
        shard=lambda wildcards: int(wildcards.shard),
        shards=FEATURES["shards"],
        batch_size=FEATURES["batch_size"],
        image_size=FEATURES["image_size"],
        resize=FEATURES["resize"],
        preprocessing=FEATURES["preprocessing"],
        precision=FEATURES["precision"],
        code_digest=code_digest("extract_features.py"),
    script:
        "../../scripts/extract_features.py"


rule merge_features:
    """Concatenate the feature shards into one table (identical for any shard count)."""
    input:
        manifest=rules.build_manifest.output.manifest,
        shards=expand(rules.extract_features.output.out, shard=FEATURE_SHARDS),
        shard_maps=expand(rules.extract_features.output.maps, shard=FEATURE_SHARDS),
        infos=expand(rules.extract_features.output.info, shard=FEATURE_SHARDS),
    output:
        out=results("features/features.parquet"),
        maps=results("features/maps.parquet"),
        info=results("features/features.json"),
    log:
        logs("merge_features/merge_features.log"),
    benchmark:
        benchmarks("merge_features/merge_features.tsv")
    conda:
        ENV
    params:
        code_digest=code_digest("merge_features.py"),
    script:
        "../../scripts/merge_features.py"


rule extract_pixels:
    """Downsampled raw pixels per image, for the pixel baseline of the head."""
    input:
        manifest=rules.build_manifest.output.manifest,
    output:
        out=results("features/pixels.parquet"),
    log:
        logs("extract_pixels/extract_pixels.log"),
    benchmark:
        benchmarks("extract_pixels/extract_pixels.tsv")
    conda:
        ENV
    params:
        size=FEATURES["pixel_size"],
        code_digest=code_digest("extract_pixels.py"),
    script:
        "../../scripts/extract_pixels.py"
