"""Real plugin distributions built in a temp dir and pip-installed with ``--target``.

The loading rules are about installed distributions (entry points, dist names, versions), so
these tests install real ones instead of registering objects in-process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
import textwrap
from pathlib import Path

import pytest

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "{version}"

[project.entry-points.redheart]
{entry} = "{module}"

[tool.setuptools]
py-modules = ["{module}"]
"""


def write_dist(root: Path, dist: str, module: str, source: str, entry: str | None = None,
               version: str = "1.2.3") -> Path:
    project = root / dist
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        PYPROJECT.format(dist=dist, version=version, entry=entry or module, module=module))
    (project / f"{module}.py").write_text(textwrap.dedent(source))
    return project


def pip_install_target(projects: list[Path], target: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), *map(str, projects)],
        check=True, capture_output=True, text=True)


WORDCOUNT = '''
from dataclasses import dataclass
from redheart_core import hookimpl

@dataclass
class WordcountOptions:
    min_length: int = 3

class Wordcount:
    requires = ()

    def __init__(self, options):
        self.min_length = options.min_length

    def analyze_batch(self, items):
        return [{"words": sum(len(w) >= self.min_length for w in item.text.split())} for item in items]

@hookimpl
def redheart_register_analyzers(register):
    register("wordcount", Wordcount, options=WordcountOptions, description="counts long words")
'''

BROKEN_IMPORT = '''
raise RuntimeError("this plugin is broken on purpose")
'''

MISSPELLED_HOOK = '''
from redheart_core import hookimpl

@hookimpl
def redheart_register_analyzer(register):
    register("never", object)
'''

CLASH = '''
from redheart_core import hookimpl

@hookimpl
def redheart_register_analyzers(register):
    register("wordcount", lambda options: None, description="clashes with redheart-wordcount")
'''

DISTS = {
    "redheart-wordcount": ("redheart_wordcount", WORDCOUNT),
    "redheart-broken": ("redheart_broken", BROKEN_IMPORT),
    "redheart-misspelled": ("redheart_misspelled", MISSPELLED_HOOK),
    "redheart-clash": ("redheart_clash", CLASH),
}


@pytest.fixture(scope="session")
def plugin_target(tmp_path_factory) -> Path:
    """A --target dir holding four small plugin distributions, installed once per session."""
    root = tmp_path_factory.mktemp("dists")
    projects = [write_dist(root / "src", dist, module, source) for dist, (module, source) in DISTS.items()]
    target = root / "site"
    pip_install_target(projects, target)
    return target


@dataclass
class CLIResult:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def run_cli(plugin_target):
    """Run ``redheart ...`` in a subprocess with the test dists on the path."""

    def run(*args: str, load: str | None = None, env: dict | None = None, stdin: str | None = None) -> CLIResult:
        full_env = {**os.environ, "PYTHONPATH": str(plugin_target), **(env or {})}
        full_env.pop("REDHEART_LOAD_PLUGINS", None)
        full_env.pop("REDHEART_STRICT_PLUGINS", None)
        if load is not None:
            full_env["REDHEART_LOAD_PLUGINS"] = load
        full_env.update(env or {})
        proc = subprocess.run([sys.executable, "-m", "redheart_core", *args], capture_output=True,
                              text=True, env=full_env, input=stdin, timeout=300)
        return CLIResult(proc.returncode, proc.stdout, proc.stderr)

    return run
