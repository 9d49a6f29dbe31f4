"""Every stage script runs by hand and explains itself."""

import argparse
import ast
import logging
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from poolkit import cli
from poolkit.cli import snakemake_argv
from poolkit.io import UserError

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "scripts").glob("*.py"))


def test_every_rule_script_exists():
    rules = "".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk"))
    used = set(re.findall(r'^\s+"\.\./\.\./scripts/(\w+\.py)"$', rules, re.M))
    assert len(used) >= 10 and used <= set(SCRIPTS)


@pytest.mark.integration
@pytest.mark.parametrize("script", SCRIPTS)
def test_help(script):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


class _Named(list):
    def __init__(self, items: dict):
        super().__init__(items.values())
        self._items = items

    def items(self):
        return self._items.items()


class _FakeSnakemake:
    def __init__(self, input: dict, output: dict, params: dict):
        self.input, self.output, self.params = _Named(input), _Named(output), _Named(params)


def test_snakemake_arguments_map_to_options():
    smk = _FakeSnakemake(
        {"manifest": "m.parquet", "shards": ["a", "b"], "path": []},
        {"out": "o.parquet"},
        {"batch_size": 64, "local_path": "", "gpu": False, "fast": True, "code_digest": "ab12"},
    )
    assert snakemake_argv(smk) == [
        "--manifest=m.parquet",
        "--shards",
        "a",
        "b",
        "--out=o.parquet",
        "--batch-size=64",
        "--local-path=",
        "--no-gpu",
        "--fast",
    ]


def test_empty_lists_of_files_are_left_out_and_empty_list_params_are_bare_options():
    smk = _FakeSnakemake({"path": []}, {"out": "o"}, {"c_grid": [], "protocols": ["crop", "circular"]})
    assert snakemake_argv(smk) == ["--out=o", "--c-grid", "--protocols", "crop", "circular"]


@pytest.mark.parametrize(
    ("resources", "gpu"),
    [({"gpu": 1}, True), ({"gres": "gpu:a100:1"}, True), ({"gpu": 0, "gres": ""}, False), ({}, False)],
)
def test_threads_and_gpu_come_from_the_job_not_from_params(resources, gpu):
    """A profile's threads and GPU request reach the script without being rule parameters."""
    import argparse

    from poolkit.cli import apply_job_resources

    job = argparse.Namespace(threads=3, resources=_Named(resources))
    args = argparse.Namespace(threads=None, require_gpu=False, out="x")
    apply_job_resources(args, job)
    assert args.threads == 3 and args.require_gpu is gpu and args.out == "x"
    bare = argparse.Namespace(out="x")  # a script without those options is left alone
    apply_job_resources(bare, job)
    assert vars(bare) == {"out": "x"}


def test_every_rule_but_the_downloads_carries_its_code_digest():
    """So that a change in the package code a stage runs reruns that stage (see poolkit.codedeps). The
    downloads write receipts of the cache: a code change must not rerun them (nor could it lose data)."""
    for path in (ROOT / "workflow/rules").glob("*.smk"):
        for block in path.read_text().split("\nrule ")[1:]:
            name = block.split(":", 1)[0]
            script = block.split('"../../scripts/')[1].split('"')[0] if "../../scripts/" in block else None
            if script and name not in ("download_weights", "download_dataset"):
                assert f'code_digest=code_digest("{script}")' in block, name


def _fake_package(root: Path) -> Path:
    package = root / "poolkit"
    package.mkdir()
    (package / "__init__.py").write_text('"""fake"""\n')
    (package / "a.py").write_text("from .b import helper\n\ndef run():\n    return helper()\n")
    (package / "b.py").write_text("def helper():\n    return 1\n")
    (package / "c.py").write_text("import numpy\n")
    (package / "sub").mkdir()
    (package / "sub" / "__init__.py").write_text("from ..c import numpy\n")
    script = root / "stage.py"
    script.write_text("import os\n\ndef main():\n    from poolkit.a import run\n    return run()\n")
    return script


def test_code_digest_follows_imports_at_any_depth(tmp_path, monkeypatch):
    from poolkit import codedeps

    script = _fake_package(tmp_path)
    package = tmp_path / "poolkit"
    monkeypatch.setattr(codedeps, "PACKAGE_DIR", package)
    assert [p.name for p in codedeps.package_files(script)] == ["__init__.py", "a.py", "b.py"]
    before = codedeps.code_digest(script)
    (package / "c.py").write_text("import numpy  # not used by the stage\n")
    assert codedeps.code_digest(script) == before
    (package / "b.py").write_text("def helper():\n    return 2\n")
    assert codedeps.code_digest(script) != before
    relative = {p.relative_to(package).as_posix() for p in codedeps.package_files(package / "sub" / "__init__.py")}
    assert relative == {"__init__.py", "c.py"}


def test_code_digest_of_the_real_stages():
    from poolkit.codedeps import package_files

    def names(script: str) -> set[str]:
        return {p.name for p in package_files(ROOT / "scripts" / script)}

    assert {"head.py", "stats.py", "cli.py"} <= names("fit_head.py") and "features.py" not in names("fit_head.py")
    assert {"features.py", "machine.py", "dataset.py"} <= names("extract_features.py")
    assert "head.py" not in names("extract_features.py") and "features.py" not in names("run_trials.py")


def _imports_of_the_whole_file(source: str) -> list[str]:
    nodes = ast.walk(ast.parse(source))
    return sorted(ast.dump(node) for node in nodes if isinstance(node, ast.Import | ast.ImportFrom))


def test_the_import_lines_parsed_alone_give_every_scripts_and_modules_imports():
    """codedeps parses each import line alone (a tenth of the time): for every stage script and package
    module, the same import statements as the whole file's syntax tree."""
    from poolkit.codedeps import import_statements

    for path in [*sorted((ROOT / "scripts").glob("*.py")), *sorted((ROOT / "scripts/poolkit").rglob("*.py"))]:
        source = path.read_text()
        assert sorted(map(ast.dump, import_statements(source))) == _imports_of_the_whole_file(source), path


@pytest.mark.parametrize(
    "source",
    [
        'def f():\n    """Read once\n    from the cache, import it as it is."""\n'
        "    from .a import (\n        b,  # (c\n        d,\n    )\n    import e.f as g, h  # i\n",
        "from .a import b, \\\n    c\n",  # a backslash continuation: the whole file is parsed
        '"""Prose that reads like an import:\nfrom the import of data\n"""\nimport os\n',  # the same
    ],
    ids=["prose-parentheses-aliases", "backslash", "prose-like-an-import"],
)
def test_import_lines_parsed_alone_pass_over_prose_and_take_continuations(source):
    from poolkit.codedeps import import_statements

    assert sorted(map(ast.dump, import_statements(source))) == _imports_of_the_whole_file(source)


# --------------------------------------------------------------------------- one source of truth
STAGE_SCRIPTS = SCRIPTS


def _load_script(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), ROOT / "scripts" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the scripts run main() only under __main__
    return module


def _actions(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _actions(sub)
        else:
            yield action


@pytest.mark.parametrize("script", STAGE_SCRIPTS)
def test_every_default_of_a_stage_option_comes_from_the_schema(script):
    """No second default: an option either has none, or takes the schema's (cli.config_option)."""
    from poolkit.cli import schema_node

    parser = _load_script(script).build_parser()
    for action in _actions(parser):
        if action.dest == "help" or action.default in (None, False, [], ""):
            continue
        assert hasattr(action, "schema_key"), f"{script}: {action.option_strings} has a default of its own"
        assert action.default == schema_node(action.schema_key).get("default"), action.schema_key


# --------------------------------------------------------------------------- one pattern for a stage's settings
#: Every stage's settings class (poolkit.settings.StageSettings), by module.
SETTINGS_CLASSES = {
    "head": "HeadSettings",
    "invariance": "TrialSettings",
    "protocols": "NetworkSettings",
    "worst_shift": "WorstShiftSettings",
}
#: The fields that are not the key <SECTION>.<field>: another key (config_field) or given by the script.
OTHER_KEYS = {
    "TrialSettings": {"size": "invariance.image_size"},
    "WorstShiftSettings": {
        "protocols": "invariance.network.protocols",
        "resize_to": "invariance.network.resize_to",
        "seed": "invariance.network.seed",
    },
}
GIVEN = {"HeadSettings": ["threads"], "NetworkSettings": ["crop"], "WorstShiftSettings": ["crop"]}
SETTINGS_CONFIGS = ["config/config.yaml", "config/demo.yaml", ".test/config/config.yaml"]


def _settings_class(name: str):
    import importlib

    module = next(module for module, cls in SETTINGS_CLASSES.items() if cls == name)
    return getattr(importlib.import_module(f"poolkit.{module}"), name)


def _given(cls, config: dict) -> dict:
    """Values of the given fields as the stage scripts pass them."""
    values = {"threads": 2, "crop": config["features"]["image_size"]}
    return {name: values[name] for name in cls.given_fields()}


def _config(name: str | None) -> dict:
    import yaml

    from poolkit.cli import SCHEMA_PATH
    from poolkit.config import validate_config

    return validate_config(yaml.safe_load((ROOT / name).read_text()) if name else {}, SCHEMA_PATH)


def test_every_settings_class_is_listed_here():
    """So that the tests below cover every stage's settings."""
    import ast

    found = {}
    for path in (ROOT / "scripts/poolkit").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(getattr(b, "id", "") == "StageSettings" for b in node.bases):
                found[path.stem] = node.name
    assert found == SETTINGS_CLASSES


@pytest.mark.parametrize("name", SETTINGS_CLASSES.values())
def test_every_setting_is_a_key_of_its_section_or_says_where_it_comes_from(name):
    """A field is the schema key <SECTION>.<field>, or another key (config_field), or given by the
    script (given_field); the last two are listed above."""
    from dataclasses import fields

    from poolkit.cli import schema_node

    cls = _settings_class(name)
    keys = cls.config_keys()
    assert set(keys) | set(cls.given_fields()) == {f.name for f in fields(cls)}
    assert cls.given_fields() == GIVEN.get(name, [])
    assert {n: k for n, k in keys.items() if k != f"{cls.SECTION}.{n}"} == OTHER_KEYS.get(name, {})
    for key in keys.values():
        assert "type" in schema_node(key), key  # a config key (not a section)


@pytest.mark.parametrize("config_name", [None, *SETTINGS_CONFIGS])
@pytest.mark.parametrize("name", SETTINGS_CLASSES.values())
def test_a_rules_settings_params_reach_the_script_as_the_same_settings(name, config_name):
    """params (config) → argv (as a Snakemake job's) → options → the settings object: the same values,
    lists as lists; with no option given, every value is the schema's default."""
    import argparse

    from poolkit.cli import add_settings_options, option_args, schema_node, settings_from_args

    cls, config = _settings_class(name), _config(config_name)
    parser = argparse.ArgumentParser()
    add_settings_options(parser, cls)
    argv = option_args(cls.params(config), bare_empty=True) if config_name else []
    settings = settings_from_args(cls, parser.parse_args(argv), **_given(cls, config))
    assert settings == cls(**cls.params(config), **_given(cls, config))
    for field_name, key in cls.config_keys().items():
        assert isinstance(getattr(settings, field_name), list) == (schema_node(key)["type"] == "array"), field_name


def test_list_options_take_several_values_and_unknown_items_end_in_a_user_error():
    import argparse

    from poolkit.cli import add_settings_options, settings_from_args
    from poolkit.io import UserError

    cls = _settings_class("NetworkSettings")
    parser = argparse.ArgumentParser()
    add_settings_options(parser, cls)
    args = parser.parse_args(["--protocols", "circular", "--max-shifts", "3", "5"])
    assert settings_from_args(cls, args, crop=64).max_shifts == [3, 5]
    with pytest.raises(
        UserError, match=r"^invariance\.network\.protocols: unknown value\(s\) zoom; allowed: crop, circular$"
    ):
        settings_from_args(cls, parser.parse_args(["--protocols", "crop", "zoom"]), crop=64)
    with pytest.raises(SystemExit):
        parser.parse_args(["--max-shifts"])  # a list the schema needs one item in


@pytest.mark.parametrize("module", ["settings", "head", "invariance", "protocols", "worst_shift", "network"])
def test_model_modules_do_not_parse_command_lines(module):
    """argparse and poolkit.cli are the scripts' business; the settings classes need neither."""
    import ast

    tree = ast.parse((ROOT / f"scripts/poolkit/{module}.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported |= {f"{node.module or ''}.{alias.name}".lstrip(".") for alias in node.names}
            imported.add(node.module or "")
    assert not {"argparse", "cli", "poolkit.cli"} & imported, imported


HEAVY_LIBRARIES = ("sklearn", "matplotlib", "tensorflow", "keras", "PIL", "scipy")


@pytest.mark.integration
def test_the_modules_the_snakefile_imports_load_no_heavy_library():
    """Snakemake parses the Snakefile for every dry run and, on a cluster, in every job: the package
    modules its rules import (for settings classes and plans) import scikit-learn, matplotlib,
    TensorFlow, Pillow and SciPy only inside the functions that use them (2.3 s of scikit-learn per parse
    before; 0.3 s of scipy.special through poolkit.reg_paths)."""
    workflow = [ROOT / "workflow/Snakefile", *sorted((ROOT / "workflow/rules").glob("*.smk"))]
    modules = sorted({m for path in workflow for m in re.findall(r"^\s*import (poolkit\.\w+)", path.read_text(), re.M)})
    assert "poolkit.head" in modules and "poolkit.config" in modules, modules
    code = f"import sys, {', '.join(modules)}; print(' '.join(m for m in {HEAVY_LIBRARIES!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert loaded.stdout.split() == [], f"{modules} load {loaded.stdout.strip()}"


def test_no_rule_spells_out_a_settings_class_or_joins_a_list():
    """The rules take a stage's settings as <Class>.params(config), lists as lists."""
    rules = {path.name: path.read_text() for path in (ROOT / "workflow/rules").glob("*.smk")}
    text = "".join(rules.values())
    assert "csv(" not in text and '",".join' not in text
    for name in SETTINGS_CLASSES.values():
        assert f"{name}.params(config)" in text, name
    head_keys = [f'HEAD["{key}"]' for key in _settings_class("HeadSettings").config_keys()]
    assert not [key for key in head_keys if key in text]


@pytest.mark.integration
def test_config_readme_is_generated_from_the_schema(tmp_path):
    """The committed key tables equal what the schema gives; a changed description makes --check fail."""

    def check(schema: Path, readme: Path) -> subprocess.CompletedProcess:
        cmd = [
            sys.executable,
            str(ROOT / "tools/config_docs.py"),
            "--schema",
            str(schema),
            "--readme",
            str(readme),
            "--check",
        ]
        return subprocess.run(cmd, capture_output=True, text=True)

    schema, readme = ROOT / "workflow/schemas/config.schema.yaml", ROOT / "config/README.md"
    assert check(schema, readme).returncode == 0, "config/README.md is out of date: run `make config-docs`"
    changed = tmp_path / "schema.yaml"
    changed.write_text(schema.read_text().replace("Seed of the random initialisation", "Seed of the weights"))
    result = check(changed, readme)
    assert result.returncode == 1 and result.stderr.startswith("ERROR: ") and "make config-docs" in result.stderr


# --------------------------------------------------------------------------- errors and logging
def _error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("ERROR:")]


def _fit_head_command(tmp_path, train: int, maps_reversed: bool = False) -> list[str]:
    """fit_head.py on 12 random images (``train`` of them training), maps in the same or reverse order; one C
    and few bootstrap resamples (the run's cost is mostly its start-up and figures)."""
    import numpy as np
    import pandas as pd

    from poolkit.io import file_digest, write_json, write_maps

    cols = [f"f{i:03d}" for i in range(512)]
    rows = pd.DataFrame(np.random.default_rng(0).random((12, 512), dtype=np.float32), columns=cols)
    split = ["train"] * train + ["valid"] * (12 - train)
    meta = pd.DataFrame({"image_id": [f"i{i}" for i in range(12)], "split": split, "label": [0, 1] * 6})
    pd.concat([meta, rows], axis=1).to_parquet(tmp_path / "f.parquet")
    pd.concat([meta, rows.iloc[:, :12].set_axis([f"p{i:04d}" for i in range(12)], axis=1)], axis=1).to_parquet(
        tmp_path / "p.parquet"
    )
    order = slice(None, None, -1) if maps_reversed else slice(None)
    write_maps(meta.iloc[order], rows.to_numpy()[order].reshape(12, 1, 1, 512), tmp_path / "m.parquet")
    digests = {f"{name}_sha256": file_digest(tmp_path / f"{name[0]}.parquet") for name in ("features", "maps")}
    write_json({"feature_map_shape": [1, 1, 512], **digests}, tmp_path / "f.json")
    outputs = [f"--{name.replace('_', '-')}={tmp_path / name}" for name in _load_script("fit_head.py").OUTPUTS]
    return [
        sys.executable,
        str(ROOT / "scripts/fit_head.py"),
        f"--features={tmp_path / 'f.parquet'}",
        f"--maps={tmp_path / 'm.parquet'}",
        f"--features-info={tmp_path / 'f.json'}",
        f"--pixels={tmp_path / 'p.parquet'}",
        "--cv-folds=2",
        "--cv-repeats=1",
        "--n-boot=50",
        "--c-grid=1.0",
        *outputs,
    ]


@pytest.mark.integration
def test_too_few_images_for_the_folds_ends_in_one_error_line(tmp_path):
    cmd = _fit_head_command(tmp_path, train=8)
    cmd[cmd.index("--cv-folds=2")] = "--cv-folds=5"
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 1
    assert _error_lines(result.stderr) == [
        "ERROR: head.cv_folds is 5 but the smaller training class has only 4 images; "
        "lower head.cv_folds or use more training images"
    ]
    assert not list(tmp_path.glob("metrics*"))


@pytest.mark.integration
def test_maps_of_other_images_end_in_one_error_line_after_the_heads_without_them(tmp_path):
    """The maps are read in the background while the GAP and pixel heads are fitted; maps in another
    image order still stop the stage with one clear line and no outputs."""
    result = subprocess.run(_fit_head_command(tmp_path, train=8, maps_reversed=True), capture_output=True, text=True)
    assert result.returncode == 1
    assert _error_lines(result.stderr) == [
        f"ERROR: {tmp_path / 'f.parquet'} and {tmp_path / 'm.parquet'} do not hold the same images in order"
    ]
    assert "head gap: 512 features" in result.stderr and not list(tmp_path.glob("metrics*"))
    assert subprocess.run(_fit_head_command(tmp_path, train=8), capture_output=True).returncode == 0


@pytest.mark.integration
def test_an_unknown_trial_input_ends_in_one_error_line(tmp_path):
    cmd = [
        sys.executable,
        str(ROOT / "scripts/run_trials.py"),
        "--shard=s0",
        f"--out={tmp_path / 't.parquet'}",
        "--inputs",
        "ring",
        "triangle",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 1
    lines = _error_lines(result.stderr)
    assert (
        len(lines) == 1 and "invariance.inputs" in lines[0] and "triangle" in lines[0] and "allowed: ring" in lines[0]
    )
    assert not (tmp_path / "t.parquet").exists()


@pytest.mark.integration
def test_a_missing_input_file_ends_in_one_error_line(tmp_path):
    cmd = [
        sys.executable,
        str(ROOT / "scripts/build_manifest.py"),
        f"--images={tmp_path / 'none'}",
        f"--manifest={tmp_path / 'm.parquet'}",
        f"--skipped={tmp_path / 's.tsv'}",
        f"--duplicates={tmp_path / 'd.tsv'}",
        f"--counts={tmp_path / 'c.json'}",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 1 and len(_error_lines(result.stderr)) == 1 and "none" in result.stderr


JOB = """
import runpy, sys
sys.path.insert(0, {scripts!r})


class Named(list):
    def __init__(self, items):
        super().__init__(items.values())
        self._items = items

    def items(self):
        return self._items.items()


smk = type("Snakemake", (), {{}})()
smk.input, smk.output = Named({{"manifest": {manifest!r}}}), Named({{"out": {out!r}}})
smk.params = Named({{"shard": "s0", "inputs": ["ring", "dataset"], "jitters": [1], "trials_per_jitter": 5}})
smk.log = [{log!r}]
runpy.run_path({script!r}, run_name="__main__", init_globals={{"snakemake": smk}})
"""


@pytest.mark.integration
def test_a_snakemake_job_logs_everything_to_its_log_and_progress_and_errors_to_the_terminal(tmp_path):
    """A job whose manifest is not Parquet: the log gets the arguments and the traceback, the terminal
    one ERROR line pointing at the cause."""
    (tmp_path / "m.parquet").write_text("not parquet")
    job = JOB.format(
        scripts=str(ROOT / "scripts"),
        manifest=str(tmp_path / "m.parquet"),
        out=str(tmp_path / "t.parquet"),
        log=str(tmp_path / "job.log"),
        script=str(ROOT / "scripts/run_trials.py"),
    )
    result = subprocess.run([sys.executable, "-c", job], capture_output=True, text=True)
    assert result.returncode == 1
    terminal = result.stderr.strip().splitlines()
    assert len(terminal) == 1 and terminal[0].startswith("ERROR: unexpected failure: ArrowInvalid"), terminal
    log = (tmp_path / "job.log").read_text()
    assert log.startswith("arguments: --manifest=") and "Traceback (most recent call last)" in log
    assert "ERROR: unexpected failure: ArrowInvalid" in log


@pytest.mark.integration
def test_progress_lines_reach_the_terminal_and_the_log(tmp_path):
    code = (
        "import sys; sys.path.insert(0, {scripts!r})\n"
        "from poolkit import cli\nfrom poolkit.progress import Progress\n"
        "cli.configure_logging({log!r})\ncli.log.info('detail for the log only')\n"
        "p = Progress(3, 'work', interval_s=0)\np.update(3)\n"
    ).format(scripts=str(ROOT / "scripts"), log=str(tmp_path / "job.log"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stderr.startswith("[work] 3/3 images (100%)") and "detail" not in result.stderr
    log = (tmp_path / "job.log").read_text()
    assert "detail for the log only" in log and "[work] 3/3 images" in log


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_builds_its_options_in_process(script):
    """The fast tier's counterpart of ``test_help``: the script's parser, built without a new process."""
    namespace = runpy.run_path(str(ROOT / "scripts" / script), run_name="not_main")
    text = namespace["build_parser"]().format_help()
    assert text.startswith("usage:") and "--help" in text


@pytest.fixture
def restored_logging():
    """cli.run configures the root logger; put pytest's handlers back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (UserError("head.cv_folds: 5 folds need 5 images"), "ERROR: head.cv_folds: 5 folds need 5 images"),
        (FileNotFoundError(2, "No such file", "m.parquet"), "ERROR: no such file: m.parquet (check the path"),
        (ValueError("bad bytes"), "ERROR: unexpected failure: ValueError: bad bytes"),
    ],
)
def test_run_ends_a_failure_in_one_error_line_and_exit_code_1(failure, expected, monkeypatch, capsys, restored_logging):
    def main(args: argparse.Namespace) -> None:
        assert args.shard == "s0"
        raise failure

    def build_parser() -> argparse.ArgumentParser:
        p = cli.parser("a stage")
        p.add_argument("--shard")
        return p

    monkeypatch.setattr(sys, "argv", ["stage.py", "--shard", "s0"])
    with pytest.raises(SystemExit) as stopped:
        cli.run(build_parser, main)
    assert stopped.value.code == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith(expected), lines
    assert ("Traceback (most recent call last):" in lines) == isinstance(failure, ValueError)  # by hand: traceback


def test_progress_lines_count_rate_and_time_left(caplog, monkeypatch):
    from poolkit import progress

    clock = iter([0.0, 2.0, 4.0, 4.0])
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    with caplog.at_level(logging.INFO, logger="poolkit"):
        counter = progress.Progress(8, "features", interval_s=0)
        counter.update(4)
        counter.update(4)
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "[features] 4/8 images (50%), 2.0 images/s, elapsed 2 s, ~2 s left",
        "[features] 8/8 images (100%), 2.0 images/s, elapsed 4 s, ~0 s left",
    ]
    assert all(getattr(record, "progress", False) for record in caplog.records)  # shown on the terminal too
    assert counter.rate == 2.0
