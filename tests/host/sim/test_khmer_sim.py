"""A whole enrolment in Khmer in the simulator, in its pixel view: the frozen firmware draws each
screen from km.bin, and the frames the terminal shows hold the host's own HarfBuzz rendering of
the Khmer phrases; the veteran's record reaches the registry as schema 2, with his category, his
service number and the official code of his village."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import termscreen
from conftest import ROOT, enrolctl
from registrykit import _free_port

from host_tools.enrolctl.km_catalogue import KHMER

SCRIPT = """// SOK SOPHEA, a veteran of Kampong Pnov (02040107), enrolled in Khmer
?Officer number:
0042A
?PIN:
2468A
?HOME
1
?Family name:
777766655A
7777666744332A
2
09031951A
?Village:
02040107A
A
?Category:
4
?Service no.:
20481733A
?REVIEW
A
?CONSENT
+4
#
7391A
7391A
?Tap the card
t
?Card ready
r
A
?HOME
3
?To sync: 0
A
?HOME
q
"""


def test_a_veteran_is_enrolled_in_khmer_and_reaches_the_registry_as_schema_2(tmp_path: Path) -> None:
    script = tmp_path / "khmer.txt"
    script.write_text(SCRIPT)
    env = dict(os.environ, ENROL_SIM_PORT=str(_free_port()), ENROL_SIM_VIEW="pixels", ENROL_SIM_LANG="km")
    r = enrolctl("sim", "--state", str(tmp_path / "state"), "--script", str(script), cwd=ROOT, env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "Traceback" not in r.stdout + r.stderr and "MemoryError" not in r.stdout + r.stderr
    frames = termscreen.frames(r.stdout)
    assert len(frames) > 30
    for english in ("Family name:", "Given name:", "Birth date:", "Village:", "Category:", "Citizen",
                    "Service no.:", "Person agrees to", "data use?", "Tap the card on", "Card ready for",
                    "To sync: {}"):  # "data use?": the consent's second page, turned after 3 s
        phrase = KHMER[english].split("{}")[0].strip()
        assert any(termscreen.shows_khmer(f, phrase) for f in frames), english
    # no English phrase was drawn: the 8x8 font reads no "Family name" off any frame
    assert not any("Family" in "".join(termscreen.read(f) or []) for f in frames)
    with sqlite3.connect(tmp_path / "state" / "registry" / "registry.db") as db:
        got = db.execute("SELECT schema, category, json_extract(fields, '$.family_name'), "
                         "json_extract(fields, '$.village_code'), json_extract(fields, '$.service_no') "
                         "FROM records").fetchall()
    assert got == [(2, "veteran", "SOK", "02040107", "20481733")]
