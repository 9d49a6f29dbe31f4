"""The workflow as a Snakemake module of a user's project: the project's files, a tagged git repository of
this checkout served over HTTPS on 127.0.0.1 (the offline stand-in for GitHub), and the README's module
recipe set up verbatim from it (tests/test_module.py, tests/test_slurm.py)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import shutil
import ssl
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import running
from tests.workflow_runs import ROOT, tiny_config

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


def write_host(host: Path, snakefile_text: str, config: dict[str, Any] | None = None) -> Path:
    """An empty project at ``host`` with its own config (``config``, the tiny one by default) and the
    Snakefile ``snakefile_text``; returns ``host``."""
    (host / "config").mkdir(parents=True)
    (host / "workflow").mkdir()
    (host / "config/config.yaml").write_text(yaml.safe_dump(config or tiny_config()))
    (host / "workflow/Snakefile").write_text(snakefile_text)
    return host


def run_host(host: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run Snakemake in the project ``host`` on 2 cores (``extra``: more options, e.g. ``-n``); assert that
    it succeeded."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *extra], cwd=host, capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


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
    # One pack, as a git host serves it: over the dumb protocol every loose object is a request of its own.
    subprocess.run(["git", "-C", str(bare), "repack", "-a", "-d", "-q"], check=True)
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
    with running(server) as port:
        yield f"127.0.0.1:{port}"


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
    pinned = re.search(r'github\("OWNER/REPO", path="workflow/Snakefile", tag="([^"]+)"\)', snakefile)
    assert pinned is not None, "the README's module snippet names no github(...) tag"
    tag = pinned.group(1)
    assert install is not None and install.group(1) == tag, "the install command and the module pin one tag"
    return install.group(0), snakefile, tag


@dataclass(frozen=True)
class RecipeProject:
    """A user's project set up with the README's module recipe."""

    host: Path  # the project: its Snakefile (the README's snippet) and config
    env: dict[str, str]  # the environment its Snakemake and jobs run with
    installed: Path  # where the recipe's pip command installed the package
    cache: Path  # Snakemake's source cache (XDG_CACHE_HOME)


@contextlib.contextmanager
def readme_recipe_project(
    tmp_path: Path, config: dict[str, Any], base_env: dict[str, str] | None = None
) -> Iterator[RecipeProject]:
    """The README's recipe, placeholders substituted, while this checkout is served on 127.0.0.1 as a
    repository tagged with the current release (the `host` argument of `github`): the package installed
    with the recipe's pip command at the tag, then a project whose Snakefile is the README's snippet with
    `github(...)` at the same tag, and whose config is ``config``. Its jobs import the installed package.
    ``base_env``: the environment to start from (default this process's)."""
    install, snakefile, tag = readme_module_recipe()
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert tag == f"v{version}", "the README pins the current release"
    repo = tmp_path / "remote"
    tagged_copy(repo, tag)
    cache = tmp_path / "cache"
    env = {**(base_env or os.environ), "GIT_SSL_NO_VERIFY": "1", "XDG_CACHE_HOME": str(cache)}
    with https_git_host(repo, tmp_path) as host:
        url = install.split('"')[1].replace("github.com/OWNER/REPO", f"{host}/owner/maxpool-workflow")
        installed = tmp_path / "installed"  # the test's environment already holds the dependencies
        pip = [*pip_install_command(), "--quiet", "--no-deps", "--target", str(installed), url]
        done = subprocess.run(pip, capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        source = snakefile.replace('github("OWNER/REPO"', 'github("owner/maxpool-workflow"')
        source = source.replace(f'tag="{tag}")', f'tag="{tag}", host="{host}")')
        project = write_host(tmp_path / "host", source, config)
        yield RecipeProject(project, {**env, "PYTHONPATH": str(installed)}, installed, cache)


def recipe_problems(project: RecipeProject) -> list[str]:
    """What is wrong with a run of the recipe's project: a missing report, jobs that could import another
    package than the installed one, no clone of the repository in Snakemake's source cache."""
    problems = []
    report = project.host / "results/tiny/report.html"
    if not (report.is_file() and report.stat().st_size > 100_000):
        problems.append("no report, or a report too small to hold the figures")
    which = [sys.executable, "-c", "import poolkit; print(poolkit.__file__)"]
    imported = subprocess.run(which, capture_output=True, text=True, env=project.env).stdout.strip()
    if imported != str(project.installed / "poolkit/__init__.py"):
        problems.append(f"the jobs' package is {imported}, not the installed one")
    if not list(project.cache.rglob("owner/maxpool-workflow/HEAD")):
        problems.append("no clone in Snakemake's source cache")
    return problems
