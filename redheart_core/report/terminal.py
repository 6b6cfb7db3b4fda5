"""The terminal report of one AnalysisResult (rich): what `redheart analyze` prints.

Every string that came from the request, a model or a plugin goes through :mod:`.printable`, so
it can carry neither escape sequences to the terminal nor rich markup.
"""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..schema import AnalysisResult
from .printable import markup_safe
from .printable import printable


def _bar(value: float, width: int = 20) -> str:
    n = max(0, min(width, round(value * width)))
    return "█" * n + "·" * (width - n)


def print_report(result: AnalysisResult, console: Console | None = None) -> None:
    console = console or Console()
    console.print(Panel(Text(printable(result.text)),
                        title=f"redheart · {markup_safe(result.request_id)} · {markup_safe(result.language)}"))
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {markup_safe(note)}")
    if result.emotion:
        e = result.emotion
        table = Table(title=f"emotion · primary {e.primary} · integrated {e.integrated.primary}"
                      + (" · priority reversed" if e.integrated.priority_reversed else ""))
        levels = list(e.levels.items())
        table.add_column("label")
        table.add_column("p", justify="right")
        table.add_column("")
        for name, _ in levels:
            table.add_column(name, justify="right")
        for label, p in e.distribution.items():
            table.add_row(label, f"{p:.2f}", _bar(p, 12),
                          *(f"{level.distribution.get(label, 0.0):.2f}" for _, level in levels))
        console.print(table)
        console.print("levels: " + ", ".join(f"{name} {level.primary} (confidence {level.confidence:.2f})"
                                             for name, level in levels))
        console.print(f"valence {e.valence:+.2f}  arousal {e.arousal:+.2f}  "
                      f"dominance {e.dominance:+.2f}  intensity {e.intensity}  "
                      f"confidence {e.confidence:.2f}")
    if result.bentham:
        b = result.bentham
        table = Table(title=f"Bentham · final {b.final_score:.3f} · base {b.base_score:.3f}")
        table.add_column("dimension")
        table.add_column("value", justify="right")
        for dim, v in b.values.items():
            table.add_row(dim, f"{v:.2f}")
        console.print(table)
        for s in b.scenarios:
            console.print(f"  scenario [bold]{markup_safe(s.type)}[/bold]: {markup_safe(s.action)} → {s.final_score:.3f}")
    if result.ethics:
        console.print("ethics: " + "  ".join(f"{k} {v:.2f}" for k, v in result.ethics.items()))
    if result.regret:
        r = result.regret
        console.print(f"regret: anticipated {r.anticipated:.2f}, best alternative: {markup_safe(r.best_alternative)}")
        for s in r.scenarios:
            console.print(f"  regret of [bold]{markup_safe(s.type)}[/bold] {s.regret:.2f} (utility {s.utility:.2f}): "
                          f"{markup_safe(s.action)}")
    if result.surd:
        s = result.surd
        top = sorted(s.unique.items(), key=lambda kv: -kv[1])[:3]
        console.print(f"SURD of {s.target}: I = {s.mutual_information:.3f} bits, leak "
                      f"{s.info_leak:.2f}; unique: " + ", ".join(f"{k} {v:.3f}" for k, v in top))
        if s.warning:
            console.print(f"[yellow]SURD warning:[/yellow] {markup_safe(s.warning)}")
    if result.circuit:
        c = result.circuit
        console.print(f"[bold]final ethical score {c.final_ethical_score:.3f}[/bold] "
                      f"(confidence {c.confidence:.2f}); reasoning:")
        for line in c.reasoning_trace:
            console.print(Text(printable(f"  {line}")))
    for name, extra in result.extras.items():
        console.print(Text(printable(f"{name}: {extra}")))
    if result.llm.summary:
        console.print(Panel(Text(printable(result.llm.summary)), title=f"summary · {markup_safe(result.llm.backend)}"))
    for err in result.errors:
        console.print(f"[red]error[/red] in {markup_safe(err.stage)}: {markup_safe(err.type)}: {markup_safe(err.message)}")
    if result.timings_ms:
        console.print("timings (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in result.timings_ms.items()))
