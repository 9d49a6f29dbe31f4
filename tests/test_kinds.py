"""The registry of pooling kinds (poolkit.kinds): every place that lists kinds agrees with it, an
unknown name is one clear error, and every trial kind runs in the trials."""

import ast
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from poolkit import cli, plots
from poolkit.config import load_schema, validate_config
from poolkit.findings import zhang_crop
from poolkit.invariance import run_shard
from poolkit.io import UserError
from poolkit.kinds import KIND_KEYS, KINDS, NETWORK_KEY, POOLINGS, TRIALS_KEY, VARIANTS, kind
from tests.helpers import ring_trial_settings

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"

#: Literal lists of kinds outside the registry that are deliberate subsets, not listings of the kinds.
CHOSEN_SUBSETS = {
    ("scripts/poolkit/report_sections.py", ("max", "avg")),  # the exercise's two poolings get the page's headline cards
    ("tools/bench.py", ("max", "avg", "blur")),  # the benchmark's fixed trial workload, comparable across runs
    # the float32 full-size run's measured job times, one per variant it ran (the cluster projection's rates)
    ("tools/bench_full.py", ("max", "blur", "aps", "aps_circular")),
}


def schema_node(schema: dict, key: str) -> dict:
    for part in key.split("."):
        schema = schema["properties"][part]
    return schema


def test_every_kind_is_named_described_and_drawn_apart():
    for name, entry in KINDS.items():
        assert entry.name == name and re.fullmatch(r"[a-z][a-z0-9_]*", name), name  # config keys, wildcards
        assert entry.trial is not None or entry.network is not None, name
        assert entry.label and entry.description and "\n" not in entry.description, name
    for told_apart in ("label", "colour"):
        assert len({getattr(entry, told_apart) for entry in KINDS.values()}) == len(KINDS), told_apart
    assert len({(entry.marker, entry.line) for entry in KINDS.values()}) == len(KINDS)


def test_the_schema_lists_no_kind_of_its_own_and_takes_the_registrys():
    raw, loaded = yaml.safe_load(SCHEMA.read_text()), load_schema(SCHEMA)
    for key, names in KIND_KEYS.items():
        assert "enum" not in schema_node(raw, key)["items"] and "default" not in schema_node(raw, key), key
        node = schema_node(loaded, key)
        assert node["items"]["enum"] == list(names)
        assert set(node["default"]) <= set(names)
        for name in names:
            assert f"`{name}`: {KINDS[name].description}" in node["description"]
    # The stage scripts' options and config/README.md's tables read the same.
    assert cli.schema_node(TRIALS_KEY)["items"]["enum"] == list(POOLINGS)
    assert cli.schema_node(NETWORK_KEY)["items"]["enum"] == list(VARIANTS)
    readme = (ROOT / "config/README.md").read_text()
    assert all(f"`{name}`: {entry.description}" in readme for name, entry in KINDS.items())


def test_the_default_lists_are_the_registrys_and_the_real_experiments():
    defaults, real = validate_config({}, SCHEMA), yaml.safe_load((ROOT / "config/config.yaml").read_text())
    assert defaults["invariance"]["poolings"] == [n for n in POOLINGS if KINDS[n].default_trial]
    assert defaults["invariance"]["network"]["variants"] == [n for n in VARIANTS if KINDS[n].default_network]
    assert real["invariance"]["poolings"] == defaults["invariance"]["poolings"]
    assert real["invariance"]["network"]["variants"] == defaults["invariance"]["network"]["variants"]


def test_the_figures_style_every_kind_from_the_registry():
    for name, entry in KINDS.items():
        assert plots.PALETTE[name] == entry.colour
        assert plots.kind_style(name) == {
            "color": entry.colour,
            "marker": entry.marker,
            "linestyle": entry.line,
            "label": entry.label,
        }


def test_the_network_rules_wildcard_is_the_registrys():
    rules = (ROOT / "workflow/rules/network.smk").read_text()
    assert 'variant="|".join(poolkit.kinds.VARIANTS),' in rules
    pattern = "|".join(VARIANTS)
    assert all(re.fullmatch(pattern, name) for name in VARIANTS)
    assert not any(re.fullmatch(pattern, name) for name in ("avg", "blur_", "aps_", "max_circular"))


@pytest.mark.parametrize(
    ("name", "key", "known"),
    [("median", TRIALS_KEY, POOLINGS), ("aps_circular", TRIALS_KEY, POOLINGS), ("avg", NETWORK_KEY, VARIANTS)],
)
def test_an_unknown_kind_is_one_error_naming_the_key_and_the_known_kinds(name, key, known):
    with pytest.raises(UserError) as caught:
        kind(name, key)
    assert str(caught.value) == f"config key '{key}': unknown kind '{name}'; known kinds: {', '.join(known)}"


def test_the_config_refuses_an_unknown_variant_naming_the_registrys():
    with pytest.raises(UserError) as caught:
        validate_config({"invariance": {"network": {"variants": ["max", "blur_bin7"]}}}, SCHEMA)
    assert "invariance.network.variants.1" in str(caught.value) and ", ".join(VARIANTS) in str(caught.value)


def test_only_kinds_that_need_even_sides_need_a_divisible_image_size():
    config = {"invariance": {"image_size": 40, "max_depth": 4, "poolings": [*POOLINGS]}}
    with pytest.raises(UserError, match="not divisible by 2\\^max_depth = 16, which aps pooling needs"):
        validate_config(config, SCHEMA)
    config["invariance"]["poolings"] = [name for name in POOLINGS if not KINDS[name].even_sides]
    assert validate_config(config, SCHEMA)["invariance"]["image_size"] == 40


def test_every_trial_kind_runs_in_a_shard_of_trials():
    settings = ring_trial_settings(
        inputs=["ring"], jitters=[1], trials_per_jitter=3, exhaustive_max_jitter=1, poolings=list(POOLINGS)
    )
    table = run_shard("grid", settings)
    assert table.groupby("pooling").size().to_dict() == {name: 9 * 4 for name in POOLINGS}  # 9 shifts, 4 depths
    zero = table[(table["dx"] == 0) & (table["dy"] == 0)]
    assert zero["identical"].all() and np.isfinite(table["nl2"]).all()


def test_the_findings_cite_zhangs_figure_of_each_variant_that_has_one():
    sentence = zhang_crop(["max", "blur", "blur_bin5", "aps"])
    assert "max 88.5 %, blur (Tri-3) 89.6 %, blur (Bin-5) 90.2 %, on 224 px" in sentence
    assert zhang_crop(["aps", "aps_circular"]) == ""


# --------------------------------------------------------------------------- no second list of kinds
def listed_kinds(source: str) -> list[tuple[str, ...]]:
    """Every literal tuple, list, set or dict (its keys) of two or more kind names in Python ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        items = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", None)
        if not isinstance(node, ast.Tuple | ast.List | ast.Set | ast.Dict) or not items:
            continue
        names = tuple(item.value for item in items if isinstance(item, ast.Constant) and item.value in KINDS)
        if len(names) >= 2:
            found.append(names)
    found += [tuple(pattern.split("|")) for pattern in re.findall(kind_alternation(), source)]
    return found


def kind_alternation() -> str:
    """A regular expression for two or more kind names joined by ``|`` (a wildcard constraint)."""
    name = "(?:" + "|".join(sorted(KINDS, key=len, reverse=True)) + ")"
    return rf"\b{name}(?:\|{name})+\b"


def test_the_scan_finds_a_list_of_kinds():
    assert listed_kinds('x = ("max", "avg", "blur")\nd = {"max": 1, "aps": 2}\nw = "max|blur|aps"') == [
        ("max", "avg", "blur"),
        ("max", "aps"),
        ("max", "blur", "aps"),
    ]
    assert listed_kinds('x = ("max", "gap")\nif v == "max": pass') == []


def test_no_file_but_the_registry_lists_kinds():
    """Kinds are listed once (scripts/poolkit/kinds.py): the code, tools and workflow read it; only the
    configs and the tests name kinds, and :data:`CHOSEN_SUBSETS`."""
    found = set()
    for path in [*ROOT.glob("scripts/**/*.py"), *ROOT.glob("tools/*.py")]:
        if path.name != "kinds.py":
            found |= {(str(path.relative_to(ROOT)), names) for names in listed_kinds(path.read_text())}
    for path in [*ROOT.glob("workflow/**/*.smk"), ROOT / "workflow/Snakefile", SCHEMA]:
        found |= {(str(path.relative_to(ROOT)), names) for names in _alternations(path.read_text())}
    assert found == CHOSEN_SUBSETS


def _alternations(text: str) -> list[tuple[str, ...]]:
    """Kind names joined by ``|``, or two or more in a row of a YAML list or a quoted list, in non-Python text."""
    name = "(?:" + "|".join(sorted(KINDS, key=len, reverse=True)) + ")"
    listed = rf"""["']?{name}["']?(?:(?:\s*,\s*|\s*\n\s*-\s*)["']?{name}["']?)+"""
    return [tuple(re.findall(name, match)) for match in re.findall(rf"\b{listed}\b|{kind_alternation()}", text)]
