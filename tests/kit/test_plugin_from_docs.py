"""An outside plugin written only from docs/writing-plugins.md passes the kit.

The page's code blocks that start with ``# file: PATH`` are written out as a project, built
and pip-installed into a temp dir like any third-party package, and the page's own tests
(the conformance suites for an analyzer pair, a backend and a strategy, plus plain tests)
run against the installed copy in a separate pytest process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "writing-plugins.md"
FILE_BLOCK = re.compile(r"^```\w+\n# file: (\S+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
DIST = "redheart-stakeholders"


def files_from_doc() -> dict[str, str]:
    files = {}
    for path, body in FILE_BLOCK.findall(DOC.read_text(encoding="utf-8")):
        assert path not in files, f"docs/writing-plugins.md writes {path} twice"
        files[path] = body
    return files


def test_the_page_holds_a_whole_package():
    files = files_from_doc()
    assert {"pyproject.toml", "redheart_stakeholders/__init__.py",
            "tests/test_conformance.py"} <= set(files)
    kinds = {"analyzers.py", "backend.py", "strategy.py", "translator.py", "observers.py"}
    assert kinds <= {Path(p).name for p in files}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("from-docs")
    project = root / DIST
    for path, body in files_from_doc().items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(body, encoding="utf-8")
    site = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--disable-pip-version-check", "--target", str(site),
                    str(project)], check=True, capture_output=True, text=True, timeout=300)
    return root, site


def test_plugin_written_from_the_docs_passes_the_kit(installed):
    root, site = installed
    env = {**os.environ, "PYTHONPATH": str(site), "REDHEART_LOAD_PLUGINS": DIST,
           "REDHEART_STRICT_PLUGINS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=short", "-rs",
         str(root / DIST / "tests")],
        cwd=root, capture_output=True, text=True, env=env, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    passed = int(re.search(r"(\d+) passed", output).group(1))
    assert passed >= 60, output
    assert " failed" not in output and " error" not in output


def test_installed_copy_is_what_redheart_lists(installed):
    root, site = installed
    env = {**os.environ, "PYTHONPATH": str(site), "REDHEART_LOAD_PLUGINS": DIST}
    proc = subprocess.run([sys.executable, "-m", "redheart_core", "plugins", "--json", "--hook",
                           "redheart_request_finished"], cwd=root, capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f'"{DIST}"' in proc.stdout
    for name in ("stakeholders", "crowd_pressure", "rulebook", "lean", "glossary"):
        assert f'"{name}"' in proc.stdout


def test_the_page_s_commands_print_what_it_shows(installed):
    """The page's `redheart` commands, run against the installed package: the console block's
    output line for line, the `# "extras": ...` line's values in the JSON."""
    import shlex
    import sys as _sys

    _sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs"))
    from blocks import blocks, commands, console_runs, matches  # tests/docs/blocks.py

    root, site = installed
    env = {**os.environ, "PYTHONPATH": str(site),
           "REDHEART_LOAD_PLUGINS": f"{os.environ.get('REDHEART_LOAD_PLUGINS', '')},{DIST}"}
    ran = 0
    for block in blocks(DOC):
        runs = [(c.text, c.shows) for c in commands(block) if c.text.startswith("redheart ")] \
            if block.lang == "bash" else [(cmd, shown) for cmd, shown in console_runs(block)]
        for command, shown in runs:
            if "stakeholders" not in command:
                continue
            proc = subprocess.run([sys.executable, "-m", "redheart_core", *shlex.split(command)[1:]],
                                  cwd=root, capture_output=True, text=True, env=env, timeout=300)
            ran += 1
            if block.lang == "bash":
                assert proc.returncode == 0, proc.stderr
                for annotation in shown:
                    for key, value in re.findall(r'"(\w+)":\s*(-?\d+(?:\.\d+)?|"[^"]*")(?=\s*[,}])',
                                                 annotation):
                        assert re.search(rf'"{key}":\s*{re.escape(value)}(?![\w.])', proc.stdout), (
                            f"`{command}` shows {key}: {value}; it printed {proc.stdout[-1500:]}")
            else:
                assert matches(shown, proc.stdout + proc.stderr), proc.stdout + proc.stderr
    assert ran >= 2


def test_the_glossary_translator_works_with_the_default_translation_policy(installed):
    """`translation.translator=glossary` used to do nothing unless `translation.when=always`."""
    import json

    root, site = installed
    env = {**os.environ, "PYTHONPATH": str(site),
           "REDHEART_LOAD_PLUGINS": f"{os.environ.get('REDHEART_LOAD_PLUGINS', '')},{DIST}"}
    proc = subprocess.run([sys.executable, "-m", "redheart_core", "analyze", "--json",
                           "--set", "translation.translator=glossary", "--set", "analyzers=[emotion]",
                           "친구가 회사에서 거짓말을 했다"],
                          cwd=root, capture_output=True, text=True, env=env, timeout=300)
    result = json.loads(proc.stdout)
    assert result["translated_text"] == "friend company lie 했다"
    assert not [n for n in result["notes"] if n.startswith("low confidence")]
