from pathlib import Path

# The stage code is the package poolkit, installed into the environment (make demo, uv sync,
# pip install): rule files import it without any path of this checkout, so the workflow also
# runs as a module fetched from a remote source (github(...), gitfile(...)).
try:
    import poolkit.codedeps
    import poolkit.config
    import poolkit.head
    import poolkit.invariance
    import poolkit.io
    import poolkit.protocols
    import poolkit.worst_shift
except ImportError:
    raise WorkflowError(
        "ERROR: the package poolkit is not installed in this environment: run `make demo` "
        "(or `uv sync`, or `pip install .` in a checkout of this workflow; for a module, "
        "pip install the workflow's repository at the tag the module uses)."
    ) from None


def source_file(path):
    """A local copy of a file of this workflow (relative to workflow/rules/), also when the
    workflow is a module whose files Snakemake fetches from a remote source."""
    return Path(workflow.source_path(path))


try:
    config.update(
        poolkit.config.validate_config(
            config, source_file("../schemas/config.schema.yaml")
        )
    )
except poolkit.io.UserError as error:
    raise WorkflowError(f"{error}\nSee config/README.md for every key.") from None

# Local inputs are checked when the workflow is read, so a dry run already names a missing one
# (not again inside cluster jobs, whose nodes may not see a folder that only get_dataset reads).
if not workflow.remote_exec and (
    problems := poolkit.config.local_input_problems(config)
):
    raise WorkflowError("\n".join(problems))

# One software environment for all jobs; conda users run with --use-conda.
ENV = "../../environment.yml"

RUN = config["run"]["name"]
CACHE = config["run"]["cache"]


def results(path):
    """``path`` in this run's results folder, results/<run.name>/: runs never share an output."""
    return f"results/{RUN}/{path}"


def resources(path):
    """``path`` in this run's working files, resources/<run.name>/ (downloads live in run.cache)."""
    return f"resources/{RUN}/{path}"


def logs(path):
    """``path`` in this run's log folder, logs/<run.name>/."""
    return f"logs/{RUN}/{path}"


def benchmarks(path):
    """``path`` in this run's benchmark folder, benchmarks/<run.name>/."""
    return f"benchmarks/{RUN}/{path}"


DATASET = config["dataset"]
WEIGHTS = config["weights"]
FEATURES = config["features"]
EXERCISE = config["exercise"]
INVARIANCE = config["invariance"]
HEAD = config["head"]
NETWORK = INVARIANCE["network"]

FEATURE_SHARDS = [f"{i:03d}" for i in range(FEATURES["shards"])]
NETWORK_SHARDS = [f"{i:03d}" for i in range(NETWORK["shards"])]
TRIAL_SHARDS = poolkit.invariance.trial_shards(
    INVARIANCE["exhaustive_max_jitter"], INVARIANCE["seeds"]
)


def code_digest(script):
    """Digest of the poolkit modules a stage script runs: as a param, a change to them reruns the rule."""
    return poolkit.codedeps.code_digest(source_file(f"../../scripts/{script}"))


def caption(name):
    """A figure or table caption, shared by Snakemake's report and the report page (package data)."""
    return f"../../scripts/poolkit/page/captions/{name}.rst"


def local_dataset_files(wildcards):
    """The files get_dataset takes from a local folder: as inputs, an added, removed or changed
    image reruns it and what depends on it."""
    if DATASET["source"] != "local" or not Path(DATASET["local"]["path"]).is_dir():
        return []  # nothing to track (a missing folder stops the main process first)
    from poolkit.dataset import local_files

    return [str(path) for path in local_files(DATASET["local"]["path"])]


def dataset_settings():
    """The settings of the chosen dataset source only: a setting the source does not use never reruns it."""
    if DATASET["source"] == "synthetic":
        synthetic = DATASET["synthetic"]
        return {
            "seed": synthetic["seed"],
            "n_train": synthetic["n_train_per_class"],
            "n_valid": synthetic["n_valid_per_class"],
            "jpeg_quality": synthetic["jpeg_quality"],
        }
    if DATASET["source"] == "local":
        return {
            "local_path": DATASET["local"]["path"],
            "local_mode": DATASET["local"]["mode"],
        }
    return {}  # url and kaggle: the receipt names the cached download


def download_settings():
    """The settings that say which download the source is (and how to fetch it), for its receipt."""
    if DATASET["source"] == "url":
        url = DATASET["url"]
        return {
            "url": url["url"],
            "sha256": url["sha256"],
            "size": url["size"],
            "retries": url["retries"],
        }
    return {"kaggle_handle": DATASET["kaggle"]["handle"]}


def dataset_receipt(wildcards):
    """url and kaggle: the download stage's receipt naming the cached download."""
    if DATASET["source"] in ("url", "kaggle"):
        return rules.download_dataset.output.out
    return []


def weights_source_file(wildcards):
    """The file prepare_weights reads: the ImageNet download, a local path, or nothing."""
    if WEIGHTS["source"] == "imagenet":
        return rules.download_weights.output.out
    if WEIGHTS["source"] == "path":
        return WEIGHTS["path"]
    return []


def stage_benchmarks():
    """Every heavy job's benchmark file (Snakemake's time and memory per job), from the rules
    (called by the report rule, once every rule is defined)."""
    return [
        rules.prepare_weights.benchmark,
        *expand(rules.extract_features.benchmark, shard=FEATURE_SHARDS),
        *expand(rules.run_trials.benchmark, tshard=TRIAL_SHARDS),
        rules.aggregate_trials.benchmark,
        rules.fit_head.benchmark,
        *expand(
            rules.variant_features.benchmark,
            variant=NETWORK["variants"],
            shard=NETWORK_SHARDS,
        ),
        rules.variant_consistency.benchmark,
        *expand(
            rules.worst_shift_features.benchmark,
            variant=NETWORK["variants"],
            shard=NETWORK_SHARDS,
        ),
        rules.worst_shift.benchmark,
    ]
