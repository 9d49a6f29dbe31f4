localrules:
    download_weights,


rule download_weights:
    """Download Keras' ImageNet VGG16 notop weights and check their MD5."""
    output:
        out="resources/weights/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    log:
        "logs/download_weights/download_weights.log",
    conda:
        ENV
    params:
        url=WEIGHTS["imagenet"]["url"],
        md5=WEIGHTS["imagenet"]["md5"],
    script:
        "../../scripts/download_weights.py"


rule prepare_weights:
    """Load the chosen weights into the VGG16 base and save one Keras weights file."""
    input:
        path=weights_source_file,
    output:
        out="resources/weights/vgg16_notop.weights.h5",
        info="results/weights/weights.json",
    log:
        "logs/prepare_weights/prepare_weights.log",
    benchmark:
        "benchmarks/prepare_weights/prepare_weights.tsv"
    conda:
        ENV
    params:
        source=WEIGHTS["source"],
        seed=WEIGHTS["seed"],
        md5=WEIGHTS["imagenet"]["md5"],
        code_digest=code_digest("prepare_weights.py"),
    script:
        "../../scripts/prepare_weights.py"
