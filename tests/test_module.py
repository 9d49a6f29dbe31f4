"""The workflow used as a Snakemake module of another one (what `snakedeploy deploy-workflow` writes):
from a local path, and from a git repository at a tag through Snakemake's source cache (`gitfile`, the
offline stand-in for `github`); and the missing-GPU stop of a job that was given a GPU."""

import contextlib
import functools
import http.server
import os
import re
import shutil
import ssl
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.workflow_runs import (
    ROOT,
    files_that_differ,
    one_variant_config,
    planned_jobs,
    run_workflow,
    sha256,
    tiny_config,
    variant_rows_that_differ,
)

pytestmark = pytest.mark.slow

HOST_SNAKEFILE = """from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


module maxpool:
    snakefile:
        {snakefile}
    config:
        config


use rule * from maxpool
"""
SAME = [
    "results/tiny/dataset/manifest.parquet",
    "results/tiny/features/features.parquet",
    "results/tiny/features/maps.parquet",
    "results/tiny/invariance/summary_by_jitter.tsv",
    "results/tiny/head/metrics.json",
    "results/tiny/head/heads.tsv",
    "results/tiny/network/max/scores.parquet",
    "results/tiny/network/max/worst_shift/000.parquet",
]


def run_host(
    host: Path,
    snakefile: str,
    *extra: str,
    env: dict[str, str] | None = None,
    snakefile_text: bool = False,
    config: dict | None = None,
) -> None:
    """An empty project with its own config (``config``, the tiny one by default) whose Snakefile uses every
    rule of the module ``snakefile`` (a Snakefile directive value, or with ``snakefile_text`` the whole
    Snakefile); run it (``extra``: more options, e.g. ``-n``)."""
    (host / "config").mkdir(parents=True)
    (host / "workflow").mkdir()
    (host / "config/config.yaml").write_text(yaml.safe_dump(config or tiny_config()))
    text = snakefile if snakefile_text else HOST_SNAKEFILE.format(snakefile=snakefile)
    (host / "workflow/Snakefile").write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *extra], cwd=host, capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr[-4000:]
    if not extra:  # a whole run
        assert (host / "results/tiny/report.html").stat().st_size > 100_000


def test_the_workflow_runs_as_a_module_of_an_empty_project(tiny_run, tmp_path):
    """The module from the checkout's path: the whole DAG planned, and its first stages run with the same
    results as a normal run (the README recipe's test runs a module to the report)."""
    run_host(tmp_path / "host", repr(str(ROOT / "workflow/Snakefile")), "--until", "build_manifest")
    rel = "results/tiny/dataset/manifest.parquet"
    assert sha256(tmp_path / "host" / rel) == sha256(tiny_run / rel)
    assert not (tmp_path / "host/results/tiny/features").exists()
    dry = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n"], cwd=tmp_path / "host", capture_output=True, text=True
    )
    jobs = planned_jobs(dry.stdout)  # the rest of the DAG, through the module
    assert dry.returncode == 0 and "render_report" in jobs and "build_manifest" not in jobs, dry.stderr[-3000:]


def tagged_copy(repo: Path, tag: str, keep_files: bool = False) -> None:
    """A git repository at ``repo`` holding this checkout's files as they are now (tracked and untracked
    but not ignored), committed and tagged ``tag``: what a user's module would fetch from GitHub."""
    files = (
        subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, files):
        source = ROOT / rel
        if source.is_file() and not source.is_symlink():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_bytes(source.read_bytes())
    git = ["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@localhost"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "snapshot"], check=True)
    subprocess.run([*git, "tag", tag], check=True)
    for entry in [] if keep_files else repo.iterdir():  # only the git database is left: no working tree to read
        if entry.name != ".git":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


@contextlib.contextmanager
def https_git_host(repo: Path, tmp_path: Path) -> Iterator[str]:
    """Serve a bare clone of ``repo`` as ``owner/maxpool-workflow`` over HTTPS on 127.0.0.1 (git's
    "dumb" HTTP protocol: static files, a self-signed certificate); yield the host ``127.0.0.1:PORT``."""
    www = tmp_path / "www"
    bare = www / "owner/maxpool-workflow"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    subprocess.run(["git", "-C", str(bare), "update-server-info"], check=True)
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def pip_install_command() -> list[str]:
    """``pip install``, or uv's where the environment has no pip (uv builds environments without it)."""
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode == 0:
        return [sys.executable, "-m", "pip", "install"]
    uv = ROOT / ".tools/uv/bin/uv"
    uv_cmd = str(uv) if uv.is_file() else shutil.which("uv")
    if uv_cmd is None:
        pytest.skip("neither pip nor uv is installed")
    return [uv_cmd, "pip", "install", "--python", sys.executable]


def readme_module_recipe() -> tuple[str, str, str]:
    """The README's module recipe as a user copies it: the install command, the Snakefile, the tag."""
    readme = (ROOT / "README.md").read_text()
    snippet = readme.split("<!-- module: begin -->")[1].split("<!-- module: end -->")[0]
    snakefile = snippet.split("```python\n")[1].split("```")[0]
    install = re.search(r'^pip install "git\+https://github.com/OWNER/REPO@(v[^"]+)"$', readme, re.M)
    tag = re.search(r'github\("OWNER/REPO", path="workflow/Snakefile", tag="([^"]+)"\)', snakefile).group(1)
    assert install is not None and install.group(1) == tag, "the install command and the module pin one tag"
    return install.group(0), snakefile, tag


@pytest.mark.network  # pip builds the package with hatchling from PyPI
def test_the_readme_module_recipe_runs_verbatim_from_a_tagged_release(tiny_run, tmp_path):
    """The README's recipe, placeholders substituted: the package installed with its pip command at the
    tag, then a project whose Snakefile is the README's snippet, `github(...)` at the same tag, with the
    repository served on 127.0.0.1 (the `host` argument of `github`). Snakemake clones it into its
    source cache and reads the Snakefile, rule files, scripts and schema from there; the jobs import the
    package the pip command installed. Results are byte-identical to a normal run (the tiny config with
    its max network variant alone: one_variant_config)."""
    install, snakefile, tag = readme_module_recipe()
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert tag == f"v{version}", "the README pins the current release"
    repo = tmp_path / "remote"
    tagged_copy(repo, tag)
    env = {**os.environ, "GIT_SSL_NO_VERIFY": "1", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    with https_git_host(repo, tmp_path) as host:
        url = install.split('"')[1].replace("github.com/OWNER/REPO", f"{host}/owner/maxpool-workflow")
        target = tmp_path / "installed"  # the test's environment already holds the dependencies
        pip = [*pip_install_command(), "--quiet", "--no-deps", "--target", str(target), url]
        installed = subprocess.run(pip, capture_output=True, text=True, env=env)
        assert installed.returncode == 0, installed.stderr[-3000:]
        source = snakefile.replace('github("OWNER/REPO"', 'github("owner/maxpool-workflow"')
        source = source.replace(f'tag="{tag}")', f'tag="{tag}", host="{host}")')
        host_env = {**env, "PYTHONPATH": str(target)}
        run_host(tmp_path / "host", source, env=host_env, snakefile_text=True, config=one_variant_config("max"))
    which = [sys.executable, "-c", "import poolkit; print(poolkit.__file__)"]
    imported = subprocess.run(which, capture_output=True, text=True, env={**env, "PYTHONPATH": str(target)})
    assert imported.stdout.strip() == str(target / "poolkit/__init__.py")  # the jobs' package: the installed one
    assert files_that_differ(tiny_run, tmp_path / "host", SAME) == []
    assert variant_rows_that_differ(tiny_run, tmp_path / "host", "max") == []
    assert list((tmp_path / "cache").rglob("owner/maxpool-workflow/HEAD")), "no clone in Snakemake's source cache"


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="Snakemake 9.27.1: LocalGitFile.join() fails on a script path (TypeError); github() works",
)
def test_the_workflow_runs_as_a_module_from_a_local_git_repository_at_a_tag(tmp_path):
    """`gitfile(...)`, the offline stand-in for `github(...)`, fails in Snakemake 9.27.1 for any rule with
    `script:` (a bug of LocalGitFile.join); strict, so that a Snakemake release that fixes it is noticed."""
    repo = tmp_path / "remote"
    tagged_copy(repo, "v-test")
    run_host(tmp_path / "host", f'gitfile({str(repo)!r}, path="workflow/Snakefile", tag="v-test")', "-n")


@pytest.mark.network
def test_snakedeploy_writes_a_module_that_runs(tmp_path):
    """`snakedeploy deploy-workflow` from a local repository (uv runs it in a throw-away environment):
    it copies config/ and profiles/ and writes a module Snakefile. For a local repository it names the
    Snakefile by a path relative to that repository, so the test points the module at the same
    repository served on 127.0.0.1 through `github(...)` at the tag, as for a GitHub repository, and
    dry-runs it."""
    uv = ROOT / ".tools/uv/bin/uv"
    if not uv.is_file():
        pytest.skip("uv is not installed in .tools/")
    repo, dest = tmp_path / "maxpool-workflow", tmp_path / "deployed"
    tagged_copy(repo, "v-test", keep_files=True)
    result = subprocess.run(
        [
            str(uv),
            "tool",
            "run",
            "--from",
            "snakedeploy==0.17.1",
            "snakedeploy",
            "deploy-workflow",
            str(repo),
            str(dest),
            "--tag",
            "v-test",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (dest / "config/config.yaml").read_text() == (ROOT / "config/config.yaml").read_text()
    assert (dest / "profiles/slurm/config.yaml").is_file() and (dest / "profiles/default/config.yaml").is_file()
    snakefile = (dest / "workflow/Snakefile").read_text()
    assert "use rule * from maxpool_workflow" in snakefile and 'configfile: "config/config.yaml"' in snakefile
    declared = re.search(r"snakefile:\s*\n\s*(.+)\n", snakefile).group(1)
    (dest / "config/config.yaml").write_text(yaml.safe_dump(tiny_config()))
    env = {**os.environ, "GIT_SSL_NO_VERIFY": "1", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    with https_git_host(repo, tmp_path) as host:
        source = f'github("owner/maxpool-workflow", path="workflow/Snakefile", tag="v-test", host="{host}")'
        (dest / "workflow/Snakefile").write_text(snakefile.replace(declared, source))
        dry = subprocess.run(
            [sys.executable, "-m", "snakemake", "-n", "--cores", "2"], cwd=dest, capture_output=True, text=True, env=env
        )
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "render_report" in dry.stdout and "extract_features" in dry.stdout


def test_a_job_given_a_gpu_that_tensorflow_cannot_use_stops_before_any_work(tiny_run, tmp_path):
    """On this project's CPU machines: the GPU request from the profile reaches the feature job, which
    stops with one ERROR line naming what to install, and writes nothing. In a copy of the tiny run
    without its features, so that the feature job is the one job to run."""
    pytest.importorskip("tensorflow")
    import tensorflow as tf

    if tf.test.is_built_with_cuda() and tf.config.list_physical_devices("GPU"):
        pytest.skip("a usable GPU is present: nothing to refuse")
    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    for made_by_the_job in ("results/tiny/features", "logs/tiny/extract_features"):
        shutil.rmtree(workdir / made_by_the_job)
    gpu = ("--set-resources", "extract_features:gpu=1")
    result = run_workflow(workdir, tiny_config(), *gpu, "--until", "extract_features", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and planned_jobs(output) == {"extract_features": 1}, output[-3000:]
    logs = sorted((workdir / "logs/tiny/extract_features").glob("*.log"))  # the shard(s) that started
    assert logs
    for path in logs:
        log = path.read_text()
        errors = [line for line in log.splitlines() if line.startswith("ERROR:")]
        assert len(errors) == 1 and "asked for a GPU" in errors[0] and "make install-gpu" in errors[0], log[-2000:]
        assert "Traceback" not in log and "[features" not in log  # stopped before any image was read
    assert not list((workdir / "results/tiny/features").glob("shards/*.parquet"))
