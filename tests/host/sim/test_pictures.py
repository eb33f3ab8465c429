"""The README's pictures of the screens (host_tools/sim/screens/, `make pictures`): made again here
from the firmware in the simulator, each must be the committed one pixel for pixel (a screen
that changed and pictures not made again fail); the English ones, read back with the firmware's
8x8 font (termscreen, from MicroPython's source), say what the screen says; the README shows
every one of them."""

from __future__ import annotations

from pathlib import Path

import termscreen
from conftest import ROOT
from PIL import Image

from host_tools.sim import pictures
from host_tools.sim.frames import SCALE


def panel_rows(path: Path) -> list[str] | None:
    """The 8 text rows the picture shows, read as termscreen reads the terminal's pixel view."""
    img = Image.open(path).convert("L")
    assert img.size == (128 * SCALE, 64 * SCALE)
    px = [[1 if img.getpixel((x * SCALE, y * SCALE)) else 0 for x in range(128)] for y in range(64)]
    frame = "\n".join("".join(" \u2580\u2584\u2588"[px[y][x] | (px[y + 1][x] << 1)] for x in range(128))
                      for y in range(0, 64, 2))
    return termscreen.read(frame)


def masked(path: Path) -> Image.Image:
    """The picture with the rows that differ at each visit (pictures.VARYING) blanked."""
    img = Image.open(path).convert("L")
    for row in pictures.VARYING.get(path.name, ()):
        img.paste(0, (0, row * 8 * SCALE, 128 * SCALE, (row + 1) * 8 * SCALE))
    return img


def test_the_pictures_are_what_the_firmware_draws_now(tmp_path: Path) -> None:
    made = pictures.make(tmp_path)
    assert len(made) == len(pictures.SCREENS) * len(pictures.LANGUAGES)
    for path in made:
        committed = pictures.OUT / path.name
        assert committed.exists(), f"{path.name} is not in {pictures.OUT}: run make pictures"
        a, b = masked(path), masked(committed)
        assert a.size == b.size and a.tobytes() == b.tobytes(), f"{path.name} changed: run make pictures"
    for name, shows in pictures.SCREENS:
        rows = panel_rows(tmp_path / f"{name}-en.png")
        assert rows is not None and any(shows.split(":")[0][:15] in r for r in rows), (name, rows)
        km = Image.open(tmp_path / f"{name}-km.png")
        assert km.getbbox() is not None  # the Khmer one drew something


def test_the_readme_shows_every_picture() -> None:
    readme = (ROOT / "README.md").read_text()
    for name, _ in pictures.SCREENS:
        for lang in pictures.LANGUAGES:
            assert f"](host_tools/sim/screens/{name}-{lang}.png)" in readme, (name, lang)
