"""The example plugin package installs with pip and runs when a config names it.

It is installed the way a user installs a plugin (a real wheel build into a ``--target`` dir),
and only that distribution is loaded, so this proves the package, not the editable tree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "redheart_plugin_example"
DIST = "redheart-plugin-example"


@pytest.fixture(scope="module")
def example_site(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("example-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--disable-pip-version-check", "--target", str(target),
                    str(EXAMPLE)], check=True, capture_output=True, text=True, timeout=300)
    return target


def redheart(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "REDHEART_LOAD_PLUGINS": DIST}
    env.pop("REDHEART_STRICT_PLUGINS", None)
    return subprocess.run([sys.executable, "-m", "redheart_core", *args], capture_output=True,
                          text=True, env=env, timeout=600, cwd=site)


def test_pip_installs_a_wheel_with_the_entry_point(example_site):
    (dist_info,) = example_site.glob("redheart_plugin_example-*.dist-info")
    entry_points = (dist_info / "entry_points.txt").read_text()
    assert "[redheart]" in entry_points and "example = redheart_plugin_example" in entry_points
    assert (example_site / "redheart_plugin_example" / "urgency.py").is_file()


def test_listed_by_redheart_plugins(example_site):
    proc = redheart(example_site, "plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    (info,) = [p for p in json.loads(proc.stdout) if p["distribution"] == DIST]
    assert info["status"] == "ok" and info["registers"] == {"analyzers": ["urgency"]}
    assert info["version"] == "0.1.0"


def test_output_appears_under_extras(example_site):
    proc = redheart(example_site, "analyze", "--json", "--set", "analyzers=[urgency]",
                    "--set", "analyzer_options.urgency.half_point=1.0",
                    "My boss needs the answer right now, the deadline is today!")
    assert proc.returncode in (0, 1), proc.stderr
    result = json.loads(proc.stdout)
    urgency = result["extras"]["urgency"]
    assert urgency["level"] == "high" and urgency["horizon_hours"] == 0
    assert {"right now", "deadline", "today"} <= set(urgency["markers"])
    assert not [e for e in result["errors"] if e["stage"] == "red_heart"], result["errors"]


def test_unknown_option_exits_2_naming_the_key(example_site):
    proc = redheart(example_site, "config", "validate", "--set", "analyzers=[urgency]",
                    "--set", "analyzer_options.urgency.halfpoint=1")
    assert proc.returncode == 2
    assert "analyzer_options.urgency.halfpoint" in proc.stderr and "half_point" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_building_a_copy_leaves_no_build_output_and_ships_no_stale_files(tmp_path):
    """Copying the folder, as its README suggests, used to carry setuptools' build/lib into the
    next wheel; the hatchling build writes nothing into the folder and packs only src/."""
    import shutil
    import zipfile

    copy = tmp_path / "my_plugin"
    shutil.copytree(EXAMPLE, copy)
    stale = copy / "build" / "lib" / "old_plugin_name"
    stale.mkdir(parents=True)
    (stale / "__init__.py").write_text("raise ImportError('stale')\n")
    before = sorted(p.relative_to(copy) for p in copy.rglob("*"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--disable-pip-version-check", "-w", str(tmp_path / "wheels"),
                    str(copy)], check=True, capture_output=True, text=True, timeout=300)
    assert sorted(p.relative_to(copy) for p in copy.rglob("*")) == before, "the build wrote into the folder"
    (wheel,) = (tmp_path / "wheels").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if "old_plugin_name" in n]
    assert {n.split("/")[0] for n in names} == {"redheart_plugin_example",
                                                "redheart_plugin_example-0.1.0.dist-info"}


def test_the_example_folder_holds_no_build_output():
    tracked = subprocess.run(["git", "ls-files", str(EXAMPLE)], capture_output=True, text=True,
                             cwd=EXAMPLE).stdout.split()
    assert tracked and not [f for f in tracked if "/build/" in f or ".egg-info" in f]
