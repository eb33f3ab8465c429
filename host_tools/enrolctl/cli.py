"""enrolctl: technician CLI (typer).  Commands stay thin; the work is in the modules beside this one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from . import build as build_mod
from . import vendor as vendor_mod
from .errors import EnrolctlError
from .paths import BUILD_DEVICE

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False, help=__doc__)
out = Console()
err = Console(stderr=True)


@app.command()
def build(
    out_dir: Annotated[Path, typer.Option("--out", help="output directory")] = BUILD_DEVICE,
    sim: Annotated[bool, typer.Option("--sim", help="add the emulators (for make sim)")] = False,
) -> None:
    """Compile firmware/ and lib/ to .mpy into build/device/ and write its manifest."""
    if sim:
        build_mod.build_sim(out_dir)
        out.print(f"built the simulator image in {out_dir}")
        return
    entries = build_mod.build(out_dir)
    total = sum(e.size for e in entries)
    out.print(f"built {len(entries)} files, {total} bytes -> {out_dir}")


@app.command()
def vendor() -> None:
    """Copy adafruit_pn532 and adafruit_bus_device out of their installed wheels into lib/."""
    files = vendor_mod.vendor()
    out.print(f"vendored {len(files)} files into lib/")


def main() -> None:
    try:
        app()
    except EnrolctlError as e:
        err.print(f"enrolctl: {e}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from None
