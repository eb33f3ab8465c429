"""The README's pictures of the device's screens (`make pictures`): one visit played in the
simulator twice, on a device provisioned in Khmer and on one in English, each frame the firmware
draws written as a PNG (`enrolctl sim --frames`, host_tools/sim/frames.py); the first frame of
each main screen is copied to host_tools/sim/screens/NAME-LANG.png.

Usage: python -m host_tools.sim.pictures [FOLDER]   (default: host_tools/sim/screens)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from host_tools.enrolctl.paths import ROOT
from host_tools.enrolctl.simrun import sim_command
from host_tools.enrolctl.simstate import provision

OUT = ROOT / "host_tools" / "sim" / "screens"
LANGUAGES = ("km", "en")
# (picture, what the screen's English description shows first when it is on the panel)
SCREENS = (
    ("login", "Officer number:"),
    ("home", "HOME"),
    ("family-name", "Family name:"),
    ("village", "Village:"),
    ("review", "REVIEW"),
    ("consent", "CONSENT"),
    ("pin", "4-6 digit PIN:"),
    ("card", "Tap the card on"),
    ("card-ready", "Card ready for"),
)
# text rows (of 8, 8 pixels each) a picture shows that differ from one visit to the next: the card's
# code comes from the record's random id (checked as any other row, but not against the last visit)
VARYING = {"card-ready-en.png": (4,)}
# the README's walkthrough, typed (the simulator's line language; '?TEXT' waits for a screen)
VISIT = ("?Officer number:", "0042A", "?PIN:", "2468A", "?HOME", "1", "?Family name:", "777766655A",
         "?Given name:", "7777666744332A", "?Sex:", "2", "?Birth date:", "09031951A", "?Village:", "02040107A",
         "?Phone", "A", "?Category:", "4", "?Service no.:", "20481733A", "?REVIEW", "A", "?CONSENT", "#",
         "?4-6 digit PIN:", "7391A", "?Type it again:", "7391A", "?Tap the card", "t", "?Card ready", "r",
         "A", "?HOME")


def play(lang: str, tmp: Path) -> Path:
    """The visit on a new device provisioned in lang; the folder of its frames."""
    state = tmp / lang
    provision(state, lang=lang)
    frames = tmp / f"frames-{lang}"
    env = dict(os.environ, ENROL_DATA_DIR=str(state / "flash"), ENROL_SIM_WALLET=str(state / "wallet"),
               ENROL_SIM_VIEW="text", ENROL_SIM_QUIET="1", ENROL_SIM_WIFI="off", ENROL_SIM_FRAMES=str(frames))
    proc = subprocess.run(sim_command(), cwd=ROOT, env=env, input="\n".join(VISIT + ("q",)) + "\n", text=True,
                          capture_output=True, timeout=900)
    if proc.returncode != 0 or "Traceback" in proc.stdout + proc.stderr:
        raise RuntimeError(f"the visit in {lang} did not run:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return frames


def pick(frames: Path) -> dict[str, Path]:
    """{picture: the first lit frame whose screen shows its text}."""
    from .frames import read_index

    index = read_index(frames)
    out = {}
    for name, shows in SCREENS:
        found = next((f for f, light, text in index if light == "on" and shows in text), None)
        if found is None:
            raise RuntimeError(f"no frame shows {shows!r} ({frames})")
        out[name] = frames / found
    return out


def make(folder: Path = OUT) -> list[Path]:
    """Every picture, regenerated into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for lang in LANGUAGES:
            for name, frame in pick(play(lang, Path(tmp))).items():
                dest = folder / f"{name}-{lang}.png"
                shutil.copyfile(frame, dest)
                written.append(dest)
    return written


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    for path in make(folder):
        print(f"pictures: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
