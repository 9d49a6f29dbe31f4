rule variant_features:
    """One base variant (pools swapped, weights unchanged), one shard: GAP scores of its share of the
    images, and of its share of the copies (both copies of every protocol pair, centre crops), each
    share cut at whole batches of one order the pair plan fixes. Runs in features.precision (auto
    resolved on the node), checked against the feature stage's when merged; needs nothing of the
    feature stage, so it runs beside it."""
    input:
        manifest=rules.build_manifest.output.manifest,
        weights=rules.prepare_weights.output.out,
        weights_info=rules.prepare_weights.output.info,
    output:
        scores=results("network/{variant}/shards/{shard}.scores.parquet"),
        copies=results("network/{variant}/shards/{shard}.copies.parquet"),
        centre=results("network/{variant}/shards/{shard}.centre.parquet"),
        info=results("network/{variant}/shards/{shard}.json"),
    log:
        logs("variant_features/{variant}.{shard}.log"),
    benchmark:
        benchmarks("variant_features/{variant}.{shard}.tsv")
    wildcard_constraints:
        variant="|".join(poolkit.kinds.VARIANTS),
        shard="[0-9]+",
    conda:
        ENV
    params:
        **poolkit.protocols.NetworkSettings.params(config),
        variant=lambda wildcards: wildcards.variant,
        shard=lambda wildcards: int(wildcards.shard),
        shards=NETWORK["shards"],
        batch_size=FEATURES["batch_size"],
        image_size=FEATURES["image_size"],
        resize=FEATURES["resize"],
        preprocessing=FEATURES["preprocessing"],
        precision=FEATURES["precision"],
        code_digest=code_digest("variant_features.py"),
    script:
        "../../scripts/variant_features.py"


rule merge_variant_features:
    """One base variant: its shards concatenated, byte-identical for any shard count; the stock
    VGG16's (max) image scores are the feature stage's, not computed again."""
    input:
        manifest=rules.build_manifest.output.manifest,
        features_info=rules.merge_features.output.info,
        features=lambda wildcards: (
            rules.merge_features.output.out if wildcards.variant == "max" else []
        ),
        shard_scores=lambda wildcards: expand(
            rules.variant_features.output.scores,
            variant=wildcards.variant,
            shard=NETWORK_SHARDS,
        ),
        shard_copies=lambda wildcards: expand(
            rules.variant_features.output.copies,
            variant=wildcards.variant,
            shard=NETWORK_SHARDS,
        ),
        shard_centre=lambda wildcards: expand(
            rules.variant_features.output.centre,
            variant=wildcards.variant,
            shard=NETWORK_SHARDS,
        ),
        infos=lambda wildcards: expand(
            rules.variant_features.output.info,
            variant=wildcards.variant,
            shard=NETWORK_SHARDS,
        ),
    output:
        scores=results("network/{variant}/scores.parquet"),
        copies=results("network/{variant}/copies.parquet"),
        centre=results("network/{variant}/centre.parquet"),
    log:
        logs("merge_variant_features/{variant}.log"),
    benchmark:
        benchmarks("merge_variant_features/{variant}.tsv")
    wildcard_constraints:
        variant="|".join(poolkit.kinds.VARIANTS),
    conda:
        ENV
    params:
        variant=lambda wildcards: wildcards.variant,
        code_digest=code_digest("merge_variant_features.py"),
    script:
        "../../scripts/merge_variant_features.py"


rule variant_consistency:
    """Per variant: a refitted GAP head, its accuracy, and its consistency per protocol and max shift."""
    input:
        scores=expand(
            rules.merge_variant_features.output.scores, variant=NETWORK["variants"]
        ),
        copies=expand(
            rules.merge_variant_features.output.copies, variant=NETWORK["variants"]
        ),
        centre=expand(
            rules.merge_variant_features.output.centre, variant=NETWORK["variants"]
        ),
    output:
        heads=report(
            results("network/heads.tsv"),
            caption=caption("variant_heads"),
            category="3. Invariance",
        ),
        consistency=report(
            results("network/consistency.tsv"),
            caption=caption("variant_consistency"),
            category="3. Invariance",
        ),
        differences=results("network/differences.tsv"),
        pairs=results("network/pairs.parquet"),
        figure=report(
            results("network/consistency.png"),
            caption=caption("variant_consistency_fig"),
            category="3. Invariance",
        ),
    log:
        logs("variant_consistency/variant_consistency.log"),
    benchmark:
        benchmarks("variant_consistency/variant_consistency.tsv")
    conda:
        ENV
    params:
        **poolkit.head.HeadSettings.params(config),
        variants=NETWORK["variants"],
        code_digest=code_digest("variant_consistency.py"),
    script:
        "../../scripts/variant_consistency.py"


rule worst_shift_features:
    """The worst shift, one base variant and shard: GAP scores of every shift (dy, dx in −s..s−1) of each
    sampled image under each protocol, the unshifted reference among them; the shard's share of each
    protocol's copies, cut at whole batches (the merged rows are the same for any shard count).
    """
    input:
        manifest=rules.build_manifest.output.manifest,
        weights=rules.prepare_weights.output.out,
        weights_info=rules.prepare_weights.output.info,
        features_info=rules.merge_features.output.info,
    output:
        out=results("network/{variant}/worst_shift/{shard}.parquet"),
    log:
        logs("worst_shift_features/{variant}.{shard}.log"),
    benchmark:
        benchmarks("worst_shift_features/{variant}.{shard}.tsv")
    wildcard_constraints:
        variant="|".join(poolkit.kinds.VARIANTS),
        shard="[0-9]+",
    conda:
        ENV
    params:
        **poolkit.worst_shift.WorstShiftSettings.params(config),
        variant=lambda wildcards: wildcards.variant,
        shard=lambda wildcards: int(wildcards.shard),
        shards=NETWORK["shards"],
        batch_size=FEATURES["batch_size"],
        image_size=FEATURES["image_size"],
        resize=FEATURES["resize"],
        preprocessing=FEATURES["preprocessing"],
        code_digest=code_digest("worst_shift_features.py"),
    script:
        "../../scripts/worst_shift_features.py"


rule worst_shift:
    """Per variant and protocol: the share of images some shift fools, and the share of shifts that do."""
    input:
        scores=expand(
            rules.merge_variant_features.output.scores, variant=NETWORK["variants"]
        ),
        copies=expand(
            rules.worst_shift_features.output.out,
            variant=NETWORK["variants"],
            shard=NETWORK_SHARDS,
        ),
    output:
        out=report(
            results("network/worst_shift.tsv"),
            caption=caption("worst_shift"),
            category="3. Invariance",
        ),
        images=results("network/worst_shift_images.parquet"),
    log:
        logs("worst_shift/worst_shift.log"),
    benchmark:
        benchmarks("worst_shift/worst_shift.tsv")
    conda:
        ENV
    params:
        **poolkit.head.HeadSettings.params(config),
        variants=NETWORK["variants"],
        protocols=NETWORK["protocols"],
        code_digest=code_digest("worst_shift.py"),
    script:
        "../../scripts/worst_shift.py"
