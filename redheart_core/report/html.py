"""The HTML report: one analysis, or a whole results file, as one self-contained page.

Everything is inline: the CSS, the charts (static SVG from :mod:`.svg`); there is no script and
nothing is fetched. A Content-Security-Policy meta tag forbids every fetch, so a page that ever
tried one would fail loudly in a browser instead of leaking a text to a network.
"""

from __future__ import annotations

from html import escape
from typing import Iterable

from .. import __version__
from ..schema import EMOTIONS, AnalysisResult
from . import svg
from .scores import SCORES, ResultsRecords

#: the sections of one analysis's page, in order (their element ids)
ANALYSIS_SECTIONS = ("overview", "emotion", "bentham", "regret", "ethics", "surd", "circuit",
                     "summary")
#: the sections of a results file's page
BATCH_SECTIONS = ("overview", "failures", "distributions", "extremes")

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

CSS = """
:root { --ink: #1d2330; --muted: #5b6474; --line: #d9dde5; --bg: #f6f7f9; --card: #fff;
        --bar: #3b75af; --hi: #c53a32; --good: #519e3e; --warn: #9a6700; --warnbg: #fff8e1; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
       color: var(--ink); background: var(--bg); }
header { padding: 20px 28px 12px; background: var(--card); border-bottom: 1px solid var(--line); }
header h1 { margin: 0 0 4px; font-size: 20px; }
header .meta { color: var(--muted); font-size: 13px; }
main { padding: 16px 28px 40px; display: grid; gap: 16px;
       grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
          padding: 14px 18px; min-width: 0; }
section.wide { grid-column: 1 / -1; }
h2 { margin: 0 0 10px; font-size: 16px; }
h3 { margin: 12px 0 4px; font-size: 13px; color: var(--muted); font-weight: 600; }
blockquote { margin: 0; padding: 8px 12px; background: var(--bg); border-left: 3px solid var(--bar);
             white-space: pre-wrap; }
.figures { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 6px 0; font-size: 14px; }
.figures b { font-variant-numeric: tabular-nums; }
.grid { display: grid; gap: 4px 16px; grid-template-columns: repeat(auto-fit, minmax(230px, 1fr)); }
.note { background: var(--warnbg); border: 1px solid #f0d58a; color: var(--warn);
        padding: 8px 12px; border-radius: 6px; margin: 8px 0; }
.error { background: #fdecea; border: 1px solid #f5c2bd; color: #8a1c12; padding: 8px 12px;
         border-radius: 6px; margin: 8px 0; }
.missing { color: var(--muted); font-style: italic; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
ol.trace { margin: 4px 0; padding-left: 22px; }
svg.chart { display: block; max-width: 100%; height: auto; }
svg .label { font-size: 12px; fill: var(--muted); }
svg .value { font-size: 12px; fill: var(--ink); font-variant-numeric: tabular-nums; }
svg .value.big { font-size: 13px; font-weight: 600; }
svg .track { fill: var(--bg); }
svg .bar { fill: var(--bar); }
svg .bar.hi, svg .hi { fill: var(--hi); }
svg .good { fill: var(--good); }
svg .warn { fill: #d08a00; }
svg .axis, svg .mark { stroke: var(--muted); stroke-width: 1; }
svg .mark { stroke-dasharray: 3 3; }
svg .scale { fill: #e6e9ef; }
svg .marker { stroke: var(--hi); stroke-width: 3; }
footer { padding: 0 28px 24px; color: var(--muted); font-size: 12px; }
"""


def page(title: str, subtitle: str, sections: Iterable[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><div class=\"meta\">{subtitle}</div></header>"
        f"<main>{''.join(sections)}</main>"
        f"<footer>redheart {escape(__version__)}: a self-contained report, nothing fetched</footer>"
        "</body></html>\n")


def section(sid: str, heading: str, *content: str, wide: bool = False) -> str:
    cls = ' class="wide"' if wide else ""
    return (f'<section id="{sid}" data-section="{sid}"{cls}><h2>{escape(heading)}</h2>'
            f"{''.join(content)}</section>")


def figures(**values: object) -> str:
    cells = "".join(f"<span>{escape(k.replace('_', ' '))} <b>{escape(_fmt(v))}</b></span>"
                    for k, v in values.items())
    return f'<div class="figures">{cells}</div>'


def _fmt(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def missing(result: AnalysisResult, part: str) -> str:
    """Why a part is absent: the error that names its analyzer, or that it was not configured."""
    failed = [e for e in result.errors if f"'{part}'" in e.message]
    why = (f": {escape(failed[0].type)}: {escape(failed[0].message)}" if failed
           else " (the analyzer is not in this config's analyzers)")
    return f'<p class="missing">not computed{why}</p>'


# ------------------------------------------------------------------ one analysis


def analysis_html(result: AnalysisResult) -> str:
    """The page for one :class:`AnalysisResult`."""
    subtitle = (f"request {escape(result.request_id)} · language {escape(result.language)} · "
                f"LLM {escape(result.llm.backend)}"
                + (f" ({escape(result.llm.model)})" if result.llm.model else ""))
    return page("redheart analysis", subtitle, [
        _overview(result), _emotion(result), _bentham(result), _regret(result), _ethics(result),
        _surd(result), _circuit(result), _summary(result)])


def _overview(r: AnalysisResult) -> str:
    parts = [f"<blockquote>{escape(r.text)}</blockquote>"]
    if r.translated_text:
        parts.append(f"<h3>English translation</h3><blockquote>{escape(r.translated_text)}</blockquote>")
    parts += [f'<p class="note">{escape(note)}</p>' for note in r.notes]
    parts += [f'<p class="error">{escape(e.stage)}: {escape(e.type)}: {escape(e.message)}</p>'
              for e in r.errors]
    if r.timings_ms:
        parts.append(figures(**{f"{k} ms": round(v) for k, v in r.timings_ms.items()}))
    return section("overview", "The situation", *parts, wide=True)


def _emotion(r: AnalysisResult) -> str:
    e = r.emotion
    if e is None:
        return section("emotion", "Emotion", missing(r, "emotion"))
    charts = [f"<div><h3>overall · {escape(e.primary)} · confidence {e.confidence:.2f}</h3>"
              + svg.bars([(k, e.distribution.get(k, 0.0)) for k in EMOTIONS],
                         title="overall emotion distribution", width=330, highlight=e.primary)
              + "</div>"]
    for name, level in e.levels.items():
        charts.append(f"<div><h3>{escape(name)} · {escape(level.primary)} · confidence "
                      f"{level.confidence:.2f}</h3>"
                      + svg.bars([(k, level.distribution.get(k, 0.0)) for k in EMOTIONS],
                                 title=f"{name} emotion distribution", width=330,
                                 highlight=level.primary) + "</div>")
    integrated = e.integrated
    weights = svg.bars(list(integrated.weights.items()), title="integration weights", width=330)
    vad = svg.bars([("valence", e.valence), ("arousal", e.arousal), ("dominance", e.dominance)],
                   title="valence, arousal, dominance", low=-1, high=1, width=330)
    return section(
        "emotion", "Emotion: self, other, community, integrated",
        f'<div class="grid">{"".join(charts)}</div>',
        f"<h3>integrated · primary {escape(integrated.primary)}</h3>",
        figures(critical_loss=integrated.critical_loss, priority_reversed=integrated.priority_reversed,
                intensity=e.intensity),
        f'<div class="grid"><div>{weights}</div><div>{vad}</div></div>', wide=True)


def _bentham(r: AnalysisResult) -> str:
    b = r.bentham
    if b is None:
        return section("bentham", "Bentham's hedonic calculus", missing(r, "bentham"))
    return section(
        "bentham", "Bentham's hedonic calculus",
        figures(final_score=b.final_score, base_score=b.base_score, confidence=b.confidence),
        "<h3>the ten dimensions (0..1)</h3>",
        svg.bars(list(b.values.items()), title="Bentham dimensions"),
        "<h3>layer weights (0.75..1.25)</h3>",
        svg.bars(list(b.layers.items()), title="Bentham layers", low=0.75, high=1.25),
        "<h3>each scenario's final score</h3>",
        svg.bars([(s.type, s.final_score) for s in b.scenarios], title="scenario scores")
        if b.scenarios else '<p class="missing">no scenarios</p>',
        _scenario_table([(s.type, s.action) for s in b.scenarios]))


def _scenario_table(rows: list[tuple[str, str]]) -> str:
    if not rows:
        return ""
    body = "".join(f"<tr><td>{escape(t)}</td><td>{escape(a)}</td></tr>" for t, a in rows)
    return f"<table><tr><th>scenario</th><th>action</th></tr>{body}</table>"


def _regret(r: AnalysisResult) -> str:
    g = r.regret
    if g is None:
        return section("regret", "Regret", missing(r, "regret"))
    return section(
        "regret", "Regret over the alternatives",
        figures(anticipated=g.anticipated, experienced=g.experienced, intensity=g.intensity,
                duration_hours=round(g.duration_hours, 1), confidence=g.confidence),
        f"<p>best alternative: <b>{escape(g.best_alternative)}</b></p>",
        "<h3>regret per scenario</h3>",
        svg.bars([(s.type, s.regret) for s in g.scenarios], title="regret per scenario", tone="bar"),
        "<h3>utility per scenario</h3>",
        svg.bars([(s.type, s.utility) for s in g.scenarios], title="utility per scenario"))


def _ethics(r: AnalysisResult) -> str:
    if r.ethics is None:
        return section("ethics", "Moral foundations", missing(r, "ethics"))
    top = max(r.ethics, key=r.ethics.get)
    return section("ethics", "Moral foundations",
                   svg.bars(list(r.ethics.items()), title="moral foundations", highlight=top),
                   '<p class="missing">each 0.1..0.9; the most salient in red</p>')


def _surd(r: AnalysisResult) -> str:
    s = r.surd
    if s is None:
        return section("surd", "What drives the verdict (SURD)", missing(r, "surd"))
    rows = ([(f"U {k}", v) for k, v in s.unique.items()]
            + [(f"R {k}", v) for k, v in s.redundant.items() if v > 1e-4]
            + [(f"S {k}", v) for k, v in s.synergistic.items() if v > 1e-4])
    rows.sort(key=lambda kv: -kv[1])
    top = rows[:12]
    high = max([v for _, v in top] + [1e-9])
    warning = f'<p class="note">{escape(s.warning)}</p>' if s.warning else ""
    return section(
        "surd", f"What drives the {s.target} (SURD, bits)", warning,
        figures(mutual_information=s.mutual_information, info_leak=s.info_leak, samples=s.samples),
        svg.bars(top, title="SURD contributions in bits", high=high, digits=3, width=600,
                 label_width=300),
        '<p class="missing">U unique, R redundant, S synergistic information, in bits'
        + (f"; {len(rows) - len(top)} smaller parts not shown" if len(rows) > len(top) else "")
        + "</p>")


def _circuit(r: AnalysisResult) -> str:
    c = r.circuit
    if c is None:
        return section("circuit", "The verdict", missing(r, "circuit"))
    trace = "".join(f"<li>{escape(line)}</li>" for line in c.reasoning_trace)
    return section(
        "circuit", "The verdict and its reasoning",
        svg.meter(c.final_ethical_score, title="final ethical score (higher is more acceptable)"),
        figures(final_ethical_score=c.final_ethical_score, confidence=c.confidence,
                experience_matches=len(c.experience_matches)),
        f'<h3>reasoning trace</h3><ol class="trace">{trace}</ol>')


def _summary(r: AnalysisResult) -> str:
    parts = []
    if r.llm.summary:
        parts.append(f"<blockquote>{escape(r.llm.summary)}</blockquote>")
    else:
        parts.append('<p class="missing">no summary (the llm_final stage failed or did not run)</p>')
    initial = r.llm.initial
    if initial is not None:
        parts.append("<h3>the LLM's first reading</h3>")
        parts.append(f"<p>stakeholders: {escape(', '.join(initial.stakeholders) or '-')}</p>")
        rows = "".join(f"<tr><td>{escape(s.type)}</td><td>{escape(s.action)}</td>"
                       f"<td>{escape(s.outcome)}</td></tr>" for s in initial.scenarios)
        parts.append(f"<table><tr><th>scenario</th><th>action</th><th>outcome</th></tr>{rows}</table>")
    return section("summary", f"Summary · {r.llm.backend}", *parts, wide=True)


# ------------------------------------------------------------------ a results file


def batch_html(records: ResultsRecords, *, per_end: int = 3) -> str:
    """The page for a ``redheart batch`` results file: distributions, failures, extremes."""
    subtitle = (f"{escape(str(records.path))} · {len(records.results)} results · "
                f"{len(records.failed)} errors")
    return page("redheart batch report", subtitle, [
        _batch_overview(records), _failures(records), _distributions(records),
        _extremes(records, per_end)])


def _batch_overview(records: ResultsRecords) -> str:
    languages: dict[str, int] = {}
    for record in records.results:
        lang = str(record.result.get("language", "?"))
        languages[lang] = languages.get(lang, 0) + 1
    return section("overview", "The results file", figures(
        results=len(records.results), with_a_failed_stage=len(records.with_stage_errors),
        errors=len(records.failed), unreadable_lines=records.unreadable,
        **{f"language {k}": v for k, v in sorted(languages.items())}), wide=True)


def _failures(records: ResultsRecords) -> str:
    kinds = records.failure_types()
    if not kinds:
        return section("failures", "Failures", "<p>none: every record has a complete result</p>")
    rows = "".join(f"<tr><td>{escape(k)}</td><td class=\"num\">{n}</td></tr>" for k, n in kinds.items())
    return section("failures", "Failures", f"<table><tr><th>kind</th><th>count</th></tr>{rows}</table>")


def _distributions(records: ResultsRecords) -> str:
    cards = []
    for label, dist in records.distributions().items():
        counts, low, high = dist.histogram()
        median = dist.quantile(0.5)
        cards.append(f"<div><h3>{escape(label)} · n {dist.count}</h3>"
                     + svg.histogram(counts, low, high, title=f"distribution of {label}",
                                     marks=[(median, f"median {median:.2f}")])
                     + figures(min=min(dist.values), median=median, mean=dist.mean,
                               max=max(dist.values)) + "</div>")
    body = f'<div class="grid">{"".join(cards)}</div>' if cards else \
        '<p class="missing">no result holds any of the scores</p>'
    return section("distributions", "Score distributions", body, wide=True)


def _extremes(records: ResultsRecords, per_end: int) -> str:
    blocks = []
    for path, label, worst_end in SCORES:
        worst, best = records.extremes(path, worst_end, per_end)
        if not worst:
            continue
        blocks.append(f"<div><h3>{escape(label)}: worst ({'highest' if worst_end == 'high' else 'lowest'})"
                      f"</h3>{_record_table(worst)}<h3>{escape(label)}: best</h3>"
                      f"{_record_table(best)}</div>")
    body = f'<div class="grid">{"".join(blocks)}</div>' if blocks else \
        '<p class="missing">no result holds any of the scores</p>'
    return section("extremes", "Worst and best records on each score", body, wide=True)


def _record_table(rows) -> str:
    body = "".join(f"<tr><td>{escape(rec.id)}</td><td>{escape(_excerpt(rec.text))}</td>"
                   f"<td class=\"num\">{value:.3f}</td></tr>" for rec, value in rows)
    return f"<table><tr><th>id</th><th>text</th><th>value</th></tr>{body}</table>"


def _excerpt(text: str, limit: int = 140) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
