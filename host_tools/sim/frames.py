"""Each frame the simulated device draws, as a PNG (`enrolctl sim --frames DIR`): the SSD1306's
own RAM (what the firmware sent it over I2C), lit as the panel is (dimmed: grey; dark: black),
4 screen pixels to a panel pixel.  DIR/frames.tsv lists them in order: file, light, the screen's
English description (its rows joined by ' / '), so a frame can be found by what it shows."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from .ssd1306 import SSD1306Emulator

SCALE = 4
INK = {"on": 255, "dim": 96, "off": 0}  # the panel's brightness, as grey levels


def image(oled: SSD1306Emulator) -> Image.Image:
    """The panel as a person sees it."""
    ink = INK[oled.power_state()]
    img = Image.new("L", (128, 64), 0)
    if ink:
        img.putdata([ink if oled.pixel(x, y) else 0 for y in range(64) for x in range(128)])
    return img.resize((128 * SCALE, 64 * SCALE), Image.Resampling.NEAREST)


class FrameWriter:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.n = 0
        self.index = self.folder / "frames.tsv"
        self.index.write_text("")

    def write(self, oled: SSD1306Emulator, text: str) -> Path:
        self.n += 1
        path = self.folder / f"frame-{self.n:05d}.png"
        image(oled).save(path, optimize=True)
        with self.index.open("a") as f:
            f.write(f"{path.name}\t{oled.power_state()}\t{' / '.join(text.split(chr(10)))}\n")
        return path


def read_index(folder: str | Path) -> list[tuple[str, str, str]]:
    """(file, light, description) of each frame written into folder, in order."""
    out = []
    for line in (Path(folder) / "frames.tsv").read_text().splitlines():
        name, light, text = line.split("\t", 2)
        out.append((name, light, text))
    return out
