"""The human-readable report of one AnalysisResult (rich).

Every string that came from the request, a model or a plugin goes through
:mod:`.terminal`, so it can neither carry escape sequences to the terminal nor rich markup.
"""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..schema import AnalysisResult
from .terminal import markup_safe as safe
from .terminal import printable


def _bar(value: float, width: int = 20) -> str:
    n = max(0, min(width, round(value * width)))
    return "█" * n + "·" * (width - n)


def print_report(result: AnalysisResult, console: Console | None = None) -> None:
    console = console or Console()
    console.print(Panel(Text(printable(result.text)),
                        title=f"redheart · {safe(result.request_id)} · {safe(result.language)}"))
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {safe(note)}")
    if result.emotion:
        e = result.emotion
        table = Table(title=f"emotion · primary {e.primary} · integrated {e.integrated.primary}"
                      + (" · priority reversed" if e.integrated.priority_reversed else ""))
        table.add_column("label")
        table.add_column("p", justify="right")
        table.add_column("")
        for label, p in e.distribution.items():
            table.add_row(label, f"{p:.2f}", _bar(p))
        console.print(table)
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
            console.print(f"  scenario [bold]{safe(s.type)}[/bold]: {safe(s.action)} → {s.final_score:.3f}")
    if result.ethics:
        console.print("ethics: " + "  ".join(f"{k} {v:.2f}" for k, v in result.ethics.items()))
    if result.regret:
        r = result.regret
        console.print(f"regret: anticipated {r.anticipated:.2f}, best alternative: {safe(r.best_alternative)}")
    if result.surd:
        s = result.surd
        top = sorted(s.unique.items(), key=lambda kv: -kv[1])[:3]
        console.print("SURD unique (bits): " + ", ".join(f"{k} {v:.3f}" for k, v in top))
    if result.circuit:
        c = result.circuit
        console.print(f"[bold]final ethical score {c.final_ethical_score:.3f}[/bold] "
                      f"(confidence {c.confidence:.2f})")
    for name, extra in result.extras.items():
        console.print(f"{safe(name)}: {safe(extra)}")
    if result.llm.summary:
        console.print(Panel(Text(printable(result.llm.summary)), title=f"summary · {safe(result.llm.backend)}"))
    for err in result.errors:
        console.print(f"[red]error[/red] in {safe(err.stage)}: {safe(err.type)}: {safe(err.message)}")
    if result.timings_ms:
        console.print("timings (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in result.timings_ms.items()))
