"""``redheart doctor``: the accelerator, what the driver says about its memory, and the plan."""

from __future__ import annotations

import platform
import sys

import click

from .options import EXIT_ERRORS, EXIT_OK, config_options, handle_errors, load_cli_config


def _gpu_lines() -> list[str]:
    import torch

    from ..memory import format_bytes
    from ..memory.monitor import DeviceMonitor

    lines = [f"python {platform.python_version()}, torch {torch.__version__} "
             f"(CUDA build {torch.version.cuda or 'none'})"]
    if not torch.cuda.is_available():
        lines.append("GPU: none visible to torch; modules run on the CPU (strategy auto -> cpu)")
        return lines
    for index in range(torch.cuda.device_count()):
        reading = DeviceMonitor(f"cuda:{index}").snapshot()
        lines.append(f"GPU cuda:{index}: {reading.name}"
                     + (f", driver {reading.driver_version}" if reading.driver_version else ""))
        if reading.total_bytes is not None:
            lines.append(f"  memory ({reading.source}): {format_bytes(reading.used_bytes)} used of "
                         f"{format_bytes(reading.total_bytes)}, {format_bytes(reading.free_bytes)} "
                         "free" + (f", {format_bytes(reading.driver_reserved_bytes)} reserved by "
                                   "the driver" if reading.driver_reserved_bytes else ""))
        lines.append(f"  this process: {format_bytes(reading.allocated_bytes)} allocated, "
                     f"{format_bytes(reading.reserved_bytes)} held by torch's cache")
    return lines


@click.command()
@config_options
@handle_errors
def doctor(config_files, overrides, debug) -> None:
    """Check the accelerator, its driver memory, and the memory plan for the config.

    Exit codes: 0 all well, 1 the plan does not fit, 2 config error.
    """
    cfg = load_cli_config(config_files, overrides)
    for line in _gpu_lines():
        click.echo(line)
    from ..memory_plan import plan_for_config

    result = plan_for_config(cfg)
    click.echo("memory plan:")
    click.echo("  " + result.render().replace("\n", "\n  "))
    sys.exit(EXIT_OK if result.fits else EXIT_ERRORS)
