"""The HTML report, looked at in a real headless Chromium: it renders without a console error,
fetches nothing, shows every section, and the screenshot is a picture, not a blank page."""

from __future__ import annotations

import io
import json
import re

import pytest
from click.testing import CliRunner

from redheart_core.cli import cli
from redheart_core.report.html import ANALYSIS_SECTIONS, BATCH_SECTIONS, analysis_html

from .conftest import REPO


def assert_picture(png: bytes, min_height: int = 900) -> None:
    """A real page: tall enough, many colours, most of it not one flat colour."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.width >= 1000 and image.height >= min_height, image.size
    small = image.resize((image.width // 4, image.height // 4))
    colours = small.getcolors(maxcolors=1 << 20)
    assert len(colours) > 50, "a page of charts has many colours"
    most = max(count for count, _ in colours)
    assert most / (small.width * small.height) < 0.9, "the screenshot is mostly one colour"


def assert_clean(visit) -> None:
    assert visit.errors == [], visit.errors
    assert visit.requests == [visit.url], f"the page fetched {visit.requests[1:]}"


def test_one_analysis_renders_every_section_without_errors(chromium, analyses, tmp_path):
    english, _ = analyses
    page = tmp_path / "analysis.html"
    page.write_text(analysis_html(english), encoding="utf-8")
    visit = chromium.visit(page)
    assert_clean(visit)
    assert [s["id"] for s in visit.sections] == list(ANALYSIS_SECTIONS)
    by_id = {s["id"]: s for s in visit.sections}
    for sid in ANALYSIS_SECTIONS:
        assert by_id[sid]["height"] > 60 and "not computed" not in by_id[sid]["text"], sid
    assert by_id["emotion"]["charts"] == 6  # overall + three levels + weights + VAD
    for sid in ("bentham", "regret", "ethics", "surd", "circuit"):
        assert by_id[sid]["charts"] >= 1, sid
    for level in ("self", "other", "community", "integrated"):
        assert level in by_id["emotion"]["text"]
    assert "reasoning trace" in by_id["circuit"]["text"]
    assert english.llm.summary.splitlines()[0][:40] in by_id["summary"]["text"]
    assert_picture(visit.screenshot, min_height=1500)


def test_korean_without_a_translator_shows_the_low_confidence_note_first(chromium, analyses, tmp_path):
    _, korean = analyses
    page = tmp_path / "korean.html"
    page.write_text(analysis_html(korean), encoding="utf-8")
    visit = chromium.visit(page)
    assert_clean(visit)
    assert visit.sections[0]["id"] == "overview"
    assert "low confidence" in visit.sections[0]["text"]


def test_a_failed_stage_leaves_its_section_saying_why(chromium, tmp_path):
    from redheart_core.schema import AnalysisResult

    result = AnalysisResult(request_id="r-broken", text="A case.")
    result.add_error("red_heart", "analyzer 'emotion' failed: boom", "RuntimeError")
    page = tmp_path / "broken.html"
    page.write_text(analysis_html(result), encoding="utf-8")
    visit = chromium.visit(page)
    assert_clean(visit)
    by_id = {s["id"]: s for s in visit.sections}
    assert "not computed: RuntimeError: analyzer 'emotion' failed: boom" in by_id["emotion"]["text"]
    assert "not computed" in by_id["surd"]["text"]


def test_the_harness_sees_a_page_that_tries_to_fetch(chromium, analyses, tmp_path):
    """The checks above can fail: a fetch is blocked by the page's policy and reported."""
    english, _ = analyses
    page = tmp_path / "leaky.html"
    page.write_text(analysis_html(english).replace(
        "</main>", '<img src="http://127.0.0.1:9/pixel.png"></main>'), encoding="utf-8")
    visit = chromium.visit(page)
    assert visit.errors, "a blocked fetch must show up as an error"


def test_analyze_html_writes_a_self_contained_file(tmp_path):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["analyze", "--config", str(REPO / "examples/configs/offline.yaml"),
                                      "--json", "--html", str(out), "My friend asked me to lie."])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["request_id"]
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html
    refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html)
    assert refs == [], f"the page references {refs}"
    assert all(f'data-section="{sid}"' in html for sid in ANALYSIS_SECTIONS)


def write_results(path, analyses) -> None:
    english, korean = analyses
    lines = [{"id": "en-1", "result": english.to_dict()}, {"id": "ko-1", "result": korean.to_dict()},
             {"id": "bad-1", "error": {"type": "InvalidInput", "message": "empty text"}}]
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
                    + '{"id": "torn", "resu', encoding="utf-8")


def test_report_writes_a_batch_page_with_distributions_and_extremes(chromium, analyses, tmp_path):
    results = tmp_path / "results.jsonl"
    write_results(results, analyses)
    out = tmp_path / "batch.html"
    run = CliRunner().invoke(cli, ["report", str(results), "--html", str(out)])
    assert run.exit_code == 0, run.output
    assert "2 results and 1 errors" in run.output
    visit = chromium.visit(out)
    assert_clean(visit)
    assert [s["id"] for s in visit.sections] == list(BATCH_SECTIONS)
    by_id = {s["id"]: s for s in visit.sections}
    assert "InvalidInput" in by_id["failures"]["text"]
    assert "unreadable lines 1" in by_id["overview"]["text"]
    assert by_id["distributions"]["charts"] >= 4
    assert "final ethical score: worst (lowest)" in by_id["extremes"]["text"]
    assert "en-1" in by_id["extremes"]["text"] and "ko-1" in by_id["extremes"]["text"]
    assert_picture(visit.screenshot)


def test_report_of_a_missing_file_exits_2(tmp_path):
    run = CliRunner().invoke(cli, ["report", str(tmp_path / "nope.jsonl"), "--html", str(tmp_path / "x.html")])
    assert run.exit_code == 2 and "no such results file" in run.output


async def test_the_service_serves_the_same_report(analyses):
    import httpx

    from redheart_core import load_config
    from redheart_core.service import create_app

    app = create_app(load_config(files=[REPO / "examples/configs/offline.yaml"]))
    async with app.router.lifespan_context(app):
        svc = app.state.service
        while not svc.ready:
            import asyncio

            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as client:
            answer = await client.post("/v1/report", json={"text": "My friend asked me to lie.",
                                                           "request_id": "page-1"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["x-request-id"] == "page-1"
    assert all(f'data-section="{sid}"' in answer.text for sid in ANALYSIS_SECTIONS)
