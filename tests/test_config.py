"""Config validation: every bad value is refused before any stage runs, naming the key."""

import hashlib
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from poolkit.config import load_schema, validate_config
from poolkit.io import UserError
from tests.workflow_runs import planned_jobs, run_workflow, snakemake_base

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


@pytest.mark.parametrize("name", ["config/config.yaml", "config/demo.yaml", ".test/config/config.yaml"])
def test_shipped_configs_are_valid(name):
    validate_config(load(name), SCHEMA)


def test_defaults_are_filled_in():
    config = validate_config({}, SCHEMA)
    assert config["dataset"]["source"] == "kaggle"
    assert config["features"]["image_size"] == 128
    assert config["invariance"]["network"]["variants"] == ["max", "blur", "aps", "aps_circular"]


def test_every_schema_key_has_description_and_default():
    schema = load_schema(SCHEMA)

    def walk(node: dict, path: str) -> None:
        for key, sub in node.get("properties", {}).items():
            assert "description" in sub, f"{path}{key} has no description"
            assert "default" in sub, f"{path}{key} has no default"
            if sub.get("type") == "object":
                assert sub.get("additionalProperties") is False, f"{path}{key} accepts unknown keys"
                walk(sub, f"{path}{key}.")

    walk(schema, "")


def test_config_readme_documents_every_key():
    schema = load_schema(SCHEMA)
    readme = (ROOT / "config/README.md").read_text()

    def keys(node: dict, prefix: str = "") -> list[str]:
        out = []
        for key, sub in node.get("properties", {}).items():
            out.append(prefix + key)
            if sub.get("type") == "object":
                out += keys(sub, prefix + key + ".")
        return out

    documented = [f"## {key}" for key in schema["properties"]] + [f"`{key}`" for key in keys(schema) if "." in key]
    missing = [key for key in documented if key not in readme]
    assert not missing, f"config/README.md does not document {missing}"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"dataset": {"sorce": "local"}}, ["'sorce' was unexpected", "under 'dataset'", "allowed keys:", "source"]),
        ({"features": {"batch_size": "sixty-four"}}, ["features.batch_size", "not of type integer"]),
        ({"features": {"shards": "3.5"}}, ["features.shards", "3.5 is not of type integer"]),
        ({"features": {"batch_size": 0}}, ["features.batch_size", "less than the minimum of 1"]),
        ({"features": {"image_size": -128}}, ["features.image_size", "minimum"]),
        ({"invariance": {"trials_per_jitter": 0}}, ["invariance.trials_per_jitter"]),
        ({"dataset": {"source": "s3"}}, ["dataset.source", "'s3' is not allowed", "synthetic, local, url, kaggle"]),
        ({"invariance": {"poolings": ["max", "median"]}}, ["invariance.poolings.1", "'median'", "max, avg, blur"]),
        ({"invariance": {"jitters": [3, 64]}}, ["invariance.jitters", "jitter 64", "image_size 64"]),
        ({"weights": {"source": "hub"}}, ["weights.source", "random, path, imagenet"]),
        ({"head": {"c_grid": [0.1, -1]}}, ["head.c_grid.1"]),
        ({"dataset": {"url": {"sha256": "abc"}}}, ["dataset.url.sha256", "does not match"]),
    ],
)
def test_bad_values_are_refused_with_the_key_and_allowed_values(override, expected):
    with pytest.raises(UserError) as info:
        validate_config(override, SCHEMA)
    for fragment in expected:
        assert fragment in str(info.value)


@pytest.mark.integration
def test_snakemake_refuses_a_bad_config_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"invariance": {"poolings": ["max", "median"]}}))
    result = subprocess.run(
        [*snakemake_base(tmp_path), "--configfile", str(bad), "--cores", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "invariance.poolings.1" in result.stderr and "max, avg, blur" in result.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()


# --------------------------------------------------------------------------- defaults and overrides
def effective_config_md5(output: str) -> str:
    """The MD5 Snakemake prints of the config it runs with (after common.smk validated and filled it)."""
    return re.search(r"Config MD5: ([0-9a-f]{32})", output).group(1)


def md5_of(config: dict) -> str:
    return hashlib.md5(json.dumps(config, sort_keys=True).encode()).hexdigest()


def flat(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        out.update(flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key: value})
    return out


def test_the_schema_defaults_are_the_real_experiment():
    """config/config.yaml, the schema's defaults (and so config/README.md) agree on every key."""
    real, defaults = flat(validate_config(load("config/config.yaml"), SCHEMA)), flat(validate_config({}, SCHEMA))
    assert {key: (defaults[key], value) for key, value in real.items() if defaults[key] != value} == {}


@pytest.mark.parametrize("name", ["config/demo.yaml", ".test/config/config.yaml"])
def test_the_demo_and_test_configs_do_not_depend_on_config_yaml(name):
    """Merged over config/config.yaml (a run from the repository) or alone (another folder, a module):
    the same effective config."""
    from snakemake.utils import update_config

    merged = load("config/config.yaml")
    update_config(merged, load(name))
    assert validate_config(merged, SCHEMA) == validate_config(load(name), SCHEMA)


@pytest.mark.integration
@pytest.mark.parametrize("beside_config_yaml", [False, True], ids=["elsewhere", "in-a-checkout"])
def test_a_partial_user_config_changes_only_what_it_names(tmp_path, beside_config_yaml):
    """A user file holding only head.cv_folds: the workflow runs config/config.yaml's values for every
    other key, whether the run folder holds config/config.yaml (which the Snakefile loads first) or not."""
    if beside_config_yaml:
        (tmp_path / "config").mkdir()
        (tmp_path / "config/config.yaml").write_text((ROOT / "config/config.yaml").read_text())
    result = run_workflow(tmp_path, {"head": {"cv_folds": 3}}, "-n")
    expected = validate_config(load("config/config.yaml"), SCHEMA)
    expected["head"]["cv_folds"] = 3
    assert effective_config_md5(result.stdout + result.stderr) == md5_of(expected)
    jobs = planned_jobs(result.stdout)
    assert jobs["download_dataset"] == jobs["get_dataset"] == jobs["download_weights"] == 1
    assert jobs["extract_features"] == 4


def test_text_values_are_read_as_the_schema_type():
    """What Snakemake's --config hands over (nested values as text) becomes numbers and lists."""
    config = validate_config(
        {
            "features": {"shards": "3"},
            "invariance": {"jitters": ["1", "2"], "seeds": "[5, 6]"},
            "head": {"c_grid": ["0.5", "2"]},
            "report": {"title": "42"},
        },
        SCHEMA,
    )
    assert config["features"]["shards"] == 3
    assert config["invariance"]["jitters"] == [1, 2] and config["invariance"]["seeds"] == [5, 6]
    assert config["head"]["c_grid"] == [0.5, 2]
    assert config["report"]["title"] == "42"  # a string key keeps its text


@pytest.mark.integration
def test_the_documented_command_line_override_works(tmp_path):
    """The --config example of config/README.md, run as written (as a dry run in a scratch folder)."""
    readme = (ROOT / "config/README.md").read_text()
    [line] = [line for line in readme.splitlines() if line.startswith("snakemake ") and "--config " in line]
    command = [sys.executable, "-m", *shlex.split(line)]
    command += ["-n", "--snakefile", str(ROOT / "workflow/Snakefile"), "--directory", str(tmp_path)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = validate_config(load("config/demo.yaml"), SCHEMA)
    expected["features"]["shards"] = 3
    expected["invariance"]["jitters"] = [1, 2]
    assert effective_config_md5(result.stdout + result.stderr) == md5_of(expected)
    assert planned_jobs(result.stdout)["extract_features"] == 3


def test_every_schema_key_is_a_plain_identifier_or_a_json_schema_keyword():
    """Config keys are identifiers (what --config and the docs can name); nothing else sits in an entry."""
    import jsonschema

    keywords = set(jsonschema.Draft202012Validator.VALIDATORS) | {
        "$schema",
        "$id",
        "$comment",
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
    }
    problems = []

    def walk(node: dict, path: str) -> None:
        problems.extend(f"{path}: {key!r}" for key in node if key not in keywords)
        for key, sub in node.get("properties", {}).items():
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", key):
                problems.append(f"{path}.{key}: not a plain identifier")
            walk(sub, f"{path}.{key}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]")

    walk(yaml.safe_load(SCHEMA.read_text()), "(schema)")
    assert problems == []


def test_a_renamed_key_gets_one_error_line_naming_the_new_key():
    config = {"invariance": {"depths": 4, "jitters": [1]}}
    with pytest.raises(UserError) as caught:
        validate_config(config, SCHEMA)
    lines = str(caught.value).splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR:")
    assert "'invariance.depths'" in lines[0] and "'invariance.max_depth'" in lines[0]
    assert validate_config({"invariance": {"max_depth": 3}}, SCHEMA)["invariance"]["max_depth"] == 3


def test_the_replaced_fill_based_study_gets_one_error_line_naming_its_successor():
    config = {"invariance": {"vgg": {"n_images": 8, "shifts": [1, 2], "fill": "replicate"}}}
    with pytest.raises(UserError) as caught:
        validate_config(config, SCHEMA)
    lines = str(caught.value).splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR: config key 'invariance.vgg' was replaced by")
    assert "invariance.network" in lines[0]


def test_network_sizes_are_checked_against_the_crop_size():
    config = {"features": {"image_size": 64}, "invariance": {"network": {"resize_to": 64, "max_shifts": [2, 64]}}}
    with pytest.raises(UserError) as caught:
        validate_config(config, SCHEMA)
    text = str(caught.value)
    assert "invariance.network.resize_to': 64 is not larger than features.image_size 64" in text
    assert "invariance.network.max_shifts': shift 64 is not smaller than features.image_size 64" in text


def test_the_schema_reads_the_same_with_libyaml_as_with_pure_python():
    """load_schema reads with libyaml's loader where PyYAML has it (ten times faster at every parse)."""
    import yaml

    from poolkit.config import SAFE_LOADER, load_schema
    from poolkit.kinds import complete_schema

    path = ROOT / "workflow/schemas/config.schema.yaml"
    if yaml.__with_libyaml__:  # PyPI's wheels and conda-forge's build: the fast loader is the one used
        assert SAFE_LOADER is yaml.CSafeLoader
    assert load_schema(path) == complete_schema(yaml.load(path.read_text(), Loader=yaml.SafeLoader))
