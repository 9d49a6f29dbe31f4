localrules:
    download_weights,


rule download_weights:
    """Keras' ImageNet VGG16 notop weights into the cache once (MD5-checked, never deleted); its receipt."""
    output:
        out=resources("downloads/weights.json"),
    log:
        logs("download_weights/download_weights.log"),
    benchmark:
        benchmarks("download_weights/download_weights.tsv")
    conda:
        ENV
    params:
        cache=CACHE,
        url=WEIGHTS["imagenet"]["url"],
        md5=WEIGHTS["imagenet"]["md5"],
    script:
        "../../scripts/download_weights.py"


rule prepare_weights:
    """Load the chosen weights into the VGG16 base and save one Keras weights file."""
    input:
        path=weights_source_file,
    output:
        out=resources("weights/vgg16_notop.weights.h5"),
        info=results("weights/weights.json"),
    log:
        logs("prepare_weights/prepare_weights.log"),
    benchmark:
        benchmarks("prepare_weights/prepare_weights.tsv")
    conda:
        ENV
    params:
        **({"seed": WEIGHTS["seed"]} if WEIGHTS["source"] == "random" else {}),
        source=WEIGHTS["source"],
        # The seed only where it is used: a setting of another source never reruns the stage.
        code_digest=code_digest("prepare_weights.py"),
    script:
        "../../scripts/prepare_weights.py"
