"""The registry's console in a real browser (Debian's chromium, driven by selenium), against the
registry in its own process over TLS: two operators sign in, see the month, decide a held
duplicate (one proposes, the other approves), approve a device, find a person, export the month's
payments as CSV (its rows checked against the database), in English and in Khmer; hostile text
shown as text, a forged form changing nothing, cookies and the page's policy as they must be.
Screenshots of the main pages are written to build/console-screens/."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import shutil
from pathlib import Path

import httpx
import pytest
from registrykit import HostDevice, RegistryProcess, make_registry
from sqlalchemy import select
from sqlalchemy.orm import Session

from host_tools.registry import operators
from host_tools.registry.models import Device, Payment, Programme, Record

ROOT = Path(__file__).resolve().parents[3]
import sys  # noqa: E402

sys.path.insert(0, str(ROOT / "tests" / "host" / "registry"))  # test_payouts: a person, a card, a claim
SHOTS = ROOT / "build" / "console-screens"
PW = "console test password"
HOSTILE = "<script>alert(1)</script>\u202e<b>bold</b>"

pytestmark = pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("chromedriver")),
                                reason="chromium and chromedriver (make test installs them)")


def _spki(cert_pem: bytes) -> str:
    """The server key's SPKI hash: chromium trusts exactly this certificate, nothing else."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    cert = x509.load_pem_x509_certificate(cert_pem)
    der = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def _browser(cert_pem: bytes, tmp: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1000", f"--user-data-dir={tmp}",
                 f"--ignore-certificate-errors-spki-list={_spki(cert_pem)}"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or ""), options=opts)


@pytest.fixture
def world(tmp_path: Path):
    """A registry with two operators (every role but administrator), a programme, an enrolment
    device, a payout point, a person paid this month and a held duplicate."""
    reg = make_registry(tmp_path)
    with Session(reg.engine) as s:
        for name in ("ana", "bora"):
            operators.add(s, reg.keys, None, name, PW, ["registrar", "reviewer", "auditor"], totp=False,
                          must_change=False)
        s.add(Programme(code="veteran_pension", name="Veteran's pension",
                        amounts={"veteran": 150000, "retired_civil_servant": 120000}))
        s.commit()
    with RegistryProcess(reg, f"sqlite:///{tmp_path / 'registry.db'}") as server:
        reg.url = f"https://127.0.0.1:{server.port}"
        yield reg


def _people(reg, http) -> None:
    from population import distinct
    from test_payouts import Person, pay

    a, b = HostDevice(reg, "enrol-01"), HostDevice(reg, "enrol-02")
    point = HostDevice(reg, "pay-01", role="payout")
    who = distinct()
    first = Person(reg, http, a, fields=dict(who, family_name="SOK", category="veteran"))
    assert pay(http, point, first.claim(b"2580"))["result"] == "paid"
    twin = dict(who, family_name="SOK", given_name=who["given_name"][:-1] + "A")
    Person(reg, http, b, fields=twin, pin=b"1357")


def _sign_in(driver, url: str, name: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(url + "/console/login?lang=en")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PW)
    _submit(driver, driver.find_element(By.ID, "go"), "Overview")


def _heading(driver, text: str) -> None:
    """Wait for the page whose heading is `text` (a click navigates; the old page lingers a moment)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    WebDriverWait(driver, 15, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)).until(
        lambda d: d.find_element(By.TAG_NAME, "h1").text == text, message=f"no page headed {text!r}")


def _submit(driver, button, heading: str) -> None:
    """Click a form's button and wait for the next page (which may have the same heading)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from selenium.common.exceptions import WebDriverException

    old = driver.find_element(By.TAG_NAME, "html")
    button.click()

    def gone(_d: object) -> bool:
        try:
            old.tag_name  # noqa: B018 - asks the browser whether the old page's node still exists
            return False
        except WebDriverException:  # stale, or "does not belong to the document": the next page is in
            return True

    WebDriverWait(driver, 15).until(gone)
    _heading(driver, heading)


def test_a_month_of_the_programme_in_the_browser(world, tmp_path: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    reg = world
    ctx = reg.keys.ca_pem.decode()
    import ssl

    tls = ssl.create_default_context(cadata=ctx)
    with httpx.Client(base_url=reg.url, verify=tls, timeout=30) as http:
        _people(reg, http)
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver = _browser(reg.keys.server_cert.read_bytes(), tmp_path / "chromium")
    try:
        url = reg.url
        _sign_in(driver, url, "ana")
        assert driver.find_element(By.ID, "people").text == "2" and driver.find_element(By.ID, "held").text == "1"
        assert "Bavel" in driver.find_element(By.ID, "districts").text
        assert "150,000" in driver.find_element(By.ID, "programmes").text
        driver.save_screenshot(str(SHOTS / "overview-en.png"))
        # the held duplicate, side by side: ana proposes "different" with a hostile reason
        driver.get(url + "/console/reviews")
        review = driver.find_element(By.CSS_SELECTOR, "section.review")
        assert review.text.count("SOK") >= 2
        driver.save_screenshot(str(SHOTS / "reviews-en.png"))
        form = review.find_element(By.CSS_SELECTOR, "form.decide")
        form.find_element(By.CSS_SELECTOR, "select option[value=different]").click()
        form.find_element(By.NAME, "reason").send_keys("twins " + HOSTILE)
        _submit(driver, form.find_element(By.TAG_NAME, "button"), "Review queue")
        assert driver.find_element(By.CSS_SELECTOR, "div.proposal")  # now waiting, not decided
        assert not driver.find_elements(By.CSS_SELECTOR, "#review-1 div.proposal button.approve")  # not by ana
        # ana registers a device: it waits for a second registrar
        driver.get(url + "/console/devices")
        reg_form = driver.find_element(By.ID, "register")
        rogue = HostDevice(reg, "KH-0001", register=False)
        for field, value in (("device_id", rogue.device_id), ("secret", rogue.secret.hex()),
                             ("public_key", rogue.pub.hex()), ("reason", "new tablet for Bavel")):
            reg_form.find_element(By.NAME, field).send_keys(value)
        _submit(driver, reg_form.find_element(By.TAG_NAME, "button"), "Devices")
        assert "waiting for approval" in driver.find_element(By.ID, "dev-KH-0001").text
        # bora approves both
        _sign_in(driver, url, "bora")
        driver.get(url + "/console/proposals")
        page = driver.find_element(By.TAG_NAME, "main").text
        assert "<script>alert(1)</script>" in page  # shown as text
        assert "decision: different" in page  # what the approver approves
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018 - and never run
        driver.save_screenshot(str(SHOTS / "proposals-en.png"))
        for _ in range(2):
            card = driver.find_element(By.CSS_SELECTOR, "div.proposal")
            card.find_element(By.CSS_SELECTOR, "form input[name=reason]").send_keys("checked in person")
            _submit(driver, card.find_element(By.CSS_SELECTOR, "button.approve"), "Waiting for approval")
        assert driver.find_element(By.ID, "none")
        driver.get(url + "/console/reviews")
        assert driver.find_element(By.ID, "none")
        driver.get(url + "/console/devices")
        assert "active" in driver.find_element(By.ID, "dev-KH-0001").text
        with Session(reg.engine) as s:
            assert s.get(Device, "KH-0001").active is True
        # find a person
        driver.get(url + "/console/persons?q=sok")
        assert len(driver.find_elements(By.CSS_SELECTOR, "#found tr")) == 2
        link = driver.find_element(By.CSS_SELECTOR, "#found a")
        _submit(driver, link, link.text)
        assert "150,000" in driver.find_element(By.ID, "person-payments").text
        driver.save_screenshot(str(SHOTS / "person-en.png"))
        # the month's payments, and their CSV (fetched with the browser's session)
        driver.get(url + "/console/payments")
        assert driver.find_element(By.ID, "count").text == "1"
        driver.save_screenshot(str(SHOTS / "payments-en.png"))
        href = driver.find_element(By.ID, "csv").get_attribute("href")
        cookie = driver.get_cookie("enrol_console")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
        with httpx.Client(verify=tls, timeout=30) as h:
            got = h.get(href, cookies={"enrol_console": cookie["value"]})
        rows = list(csv.DictReader(io.StringIO(got.text)))
        with Session(reg.engine) as s:
            truth = [(p.receipt, str(p.amount), p.payout_point) for p in s.scalars(select(Payment))]
        assert [(x["receipt"], x["amount"], x["payout_point"]) for x in rows] == truth
        # the trail, with its chain's status
        driver.get(url + "/console/events")
        assert "unbroken" in driver.find_element(By.ID, "chain").text
        # every page, in both languages (the headings written here, in the test)
        pages = [("/console/", "Overview", "ទិដ្ឋភាពទូទៅ"), ("/console/reviews", "Review queue", "ការពិនិត្យ"),
                 ("/console/proposals", "Waiting for approval", "រង់ចាំការអនុម័ត"),
                 ("/console/devices", "Devices", "ឧបករណ៍"), ("/console/persons", "Find a person", "ស្វែងរកបុគ្គល"),
                 ("/console/payments", "Payments", "ការទូទាត់"), ("/console/events", "Event trail", "កំណត់ហេតុ")]
        for lang in ("en", "km"):
            for path, en, km in pages:
                driver.get(f"{url}{path}?lang={lang}")
                _heading(driver, en if lang == "en" else km)
                assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == lang
                if lang == "km":  # the English pages were taken above, with the month's work on them
                    driver.save_screenshot(str(SHOTS / f"{en.lower().replace(' ', '-')}-km.png"))
        # in Khmer
        driver.get(url + "/console/?lang=km")
        assert driver.find_element(By.TAG_NAME, "h1").text == "ទិដ្ឋភាពទូទៅ"
        assert "បវេល" in driver.find_element(By.ID, "districts").text  # Bavel, from the gazetteer
        assert "អតីតយុទ្ធជន" in driver.find_element(By.ID, "categories").text  # veteran
        driver.save_screenshot(str(SHOTS / "overview-km.png"))
        driver.get(url + "/console/reviews")
        assert driver.find_element(By.TAG_NAME, "h1").text == "ការពិនិត្យ"
        # a phone's screen: the page fits its width (nothing to scroll sideways)
        driver.set_window_size(390, 844)
        driver.get(url + "/console/?lang=km")
        width = driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 400, width
        driver.save_screenshot(str(SHOTS / "overview-phone-km.png"))
    finally:
        driver.quit()


def test_hostile_text_is_shown_as_text_and_cut_and_roles_keep_their_pages(world, tmp_path: Path) -> None:
    """A record's fields as an attacker would write them (HTML, script, a right-to-left override,
    Khmer combining marks alone, 10,000 characters), put straight into the database: the console
    shows them as text, cut, and runs nothing.  A reviewer cannot open the operators' page."""
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    from host_tools.registry.models import Person

    reg = world
    long_name = "\u17d2\u179a" * 5000  # a coeng-ro with no base, 10,000 characters
    with Session(reg.engine) as s:
        s.add(Device(device_id="enrol-x", hmac_secret=bytes(32), ed25519_pub=bytes(32), revoked=False, active=True))
        p = Person(status="active")
        s.add(p)
        s.flush()
        s.add(Record(record_id=b"\x07" * 16, device_id="enrol-x", boot=1, seq=1, digest=bytes(32), envelope=b"",
                     credential_id="HOSTILE0000000000000000000", officer_id="<i>OF</i>", created_t=0,
                     clock_synced=True, schema=2, category="veteran", pin_verifier=bytes(32), pin_failures=0,
                     person_id=p.id, fields={"family_name": HOSTILE, "given_name": long_name,
                                             "service_number": "<img src=x onerror=alert(3)>",
                                             "birth_date": "1950-01-01", "village_code": "02040107"}))
        s.commit()
        pid = p.id
    driver = _browser(reg.keys.server_cert.read_bytes(), tmp_path / "chromium")
    try:
        _sign_in(driver, reg.url, "ana")
        driver.get(f"{reg.url}/console/persons/{pid}?lang=en")
        _heading(driver, f"Person {pid}")
        cells = driver.find_element(By.ID, "records").find_elements(By.TAG_NAME, "td")
        assert cells[0].text.startswith("<script>alert(1)</script>")  # the text itself, not a script
        assert len(cells[1].text) <= 121 and cells[1].text.endswith("…")  # 10,000 characters cut
        assert not driver.find_elements(By.CSS_SELECTOR, "#records b, #records i, #records img, #records script")
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018
        driver.save_screenshot(str(SHOTS / "hostile-en.png"))
        driver.get(f"{reg.url}/console/persons?q=HOSTILE0000000000000000000")
        assert "<script>" in driver.find_element(By.ID, "found").text
        with Session(reg.engine) as s:  # a reviewer and nothing else
            operators.add(s, reg.keys, None, "rita", PW, ["reviewer"], totp=False, must_change=False)
            s.commit()
        _sign_in(driver, reg.url, "rita")
        driver.get(f"{reg.url}/console/operators")
        assert "do not allow" in driver.find_element(By.ID, "message").text
    finally:
        driver.quit()


def test_forged_forms_expired_sessions_and_the_page_policy(world) -> None:
    import ssl

    reg = world
    tls = ssl.create_default_context(cadata=reg.keys.ca_pem.decode())
    with httpx.Client(base_url=reg.url, verify=tls, timeout=30, follow_redirects=False) as h:
        forged = h.post("/console/login", data={"name": "ana", "password": PW})  # posted from elsewhere
        assert forged.status_code == 403 and "enrol_console" not in forged.cookies
        form = _login_token(h)
        r = h.post("/console/login", data={"name": "ana", "password": "wrong one", "form_token": form})
        assert r.status_code == 401 and "enrol_console" not in r.cookies
        form = _login_token(h)
        r = h.post("/console/login", data={"name": "ana", "password": PW, "form_token": form})
        assert r.status_code == 303
        set_cookie = r.headers["set-cookie"]
        for flag in ("Secure", "HttpOnly", "SameSite=strict", "Path=/console"):
            assert flag.lower() in set_cookie.lower(), set_cookie
        token = r.cookies["enrol_console"]
        page = h.get("/console/devices", cookies={"enrol_console": token})
        assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none': no script
        assert "default-src 'none'" in page.headers["content-security-policy"]
        rogue = HostDevice(reg, "KH-9", register=False)
        forged = h.post("/console/devices", cookies={"enrol_console": token},
                        data={"device_id": "KH-9", "secret": rogue.secret.hex(), "public_key": rogue.pub.hex(),
                              "role": "enrolment", "reason": "x", "csrf": "0" * 32})
        assert forged.status_code == 403
        with Session(reg.engine) as s:
            assert s.get(Device, "KH-9") is None  # nothing changed
        assert h.get("/console/persons/999999", cookies={"enrol_console": token}).status_code == 404
        h.post("/console/logout", cookies={"enrol_console": token}, data={"csrf": "0" * 32})  # forged: ignored
        assert h.get("/console/", cookies={"enrol_console": token}).status_code == 200
        with Session(reg.engine) as s:
            from sqlalchemy import update

            from host_tools.registry.models import OperatorToken

            s.execute(update(OperatorToken).values(revoked=True))
            s.commit()
        ended = h.get("/console/", cookies={"enrol_console": token})
        assert ended.status_code == 401 and "Sign in" in ended.text or "ចូល" in ended.text
        assert h.get("/console/").status_code == 303  # no session: to the sign-in page
        assert h.get("/console/payments.csv", params={"programme": "x", "period": "2026-13"},
                      cookies={"enrol_console": token}).status_code == 422


def _login_token(h: httpx.Client) -> str:
    """The sign-in form's token (its cookie stays in the client)."""
    import re

    page = h.get("/console/login").text
    return re.search(r'name="form_token" value="([^"]+)"', page).group(1)


def _signed_in(h: httpx.Client, name: str) -> tuple[str, str]:
    """(session token, form token) of `name`, signed in through the form."""
    import re

    r = h.post("/console/login", data={"name": name, "password": PW, "form_token": _login_token(h)})
    assert r.status_code == 303, r.text
    token = r.cookies["enrol_console"]
    page = h.get("/console/proposals", cookies={"enrol_console": token}).text
    return token, re.search(r'name="csrf" value="([0-9a-f]{32})"', page).group(1)


def test_bad_input_gets_a_page_and_changes_nothing(world) -> None:
    import ssl

    reg = world
    tls = ssl.create_default_context(cadata=reg.keys.ca_pem.decode())
    with httpx.Client(base_url=reg.url, verify=tls, timeout=60, follow_redirects=False) as h:
        ana, ana_form = _signed_in(h, "ana")
        bora, bora_form = _signed_in(h, "bora")
        for path in ("/console/payments?programme=veteran_pension&period=2026-13", "/console/persons/0",
                     "/console/nothing-here", "/console/persons?q=" + "x" * 100):
            r = h.get(path, cookies={"enrol_console": ana})
            assert r.status_code in (404, 422) and r.headers["content-type"].startswith("text/html"), (path, r.text)
            assert "default-src 'none'" in r.headers["content-security-policy"]
        # a device proposed by ana, approved by bora; approved again by someone else: refused, clearly
        rogue = HostDevice(reg, "KH-7", register=False)
        r = h.post("/console/devices", cookies={"enrol_console": ana},
                   data={"device_id": "KH-7", "secret": rogue.secret.hex(), "public_key": rogue.pub.hex(),
                         "role": "enrolment", "reason": "new", "csrf": ana_form})
        assert r.status_code == 303
        with Session(reg.engine) as s:
            from host_tools.registry.models import Proposal

            pid = s.scalars(select(Proposal.id).where(Proposal.subject == "KH-7")).one()
        own = h.post(f"/console/proposals/{pid}/approve", cookies={"enrol_console": ana},
                     data={"reason": "mine", "csrf": ana_form})
        assert own.status_code == 403 and "cannot approve" in own.text
        assert h.post(f"/console/proposals/{pid}/approve", cookies={"enrol_console": bora},
                      data={"reason": "ok", "csrf": bora_form}).status_code == 303
        again = h.post(f"/console/proposals/{pid}/refuse", cookies={"enrol_console": ana},
                       data={"reason": "too late", "csrf": ana_form})
        assert again.status_code == 409 and "approved already by bora" in again.text
        with Session(reg.engine) as s:
            assert s.get(Device, "KH-7").active is True
        # one registrar revokes it (stopping money needs no second)
        r = h.post("/console/devices/KH-7/revoke", cookies={"enrol_console": ana},
                   data={"reason": "stolen", "csrf": ana_form})
        assert r.status_code == 303
        with Session(reg.engine) as s:
            assert s.get(Device, "KH-7").revoked is True


def test_a_large_month_is_exported_whole(world) -> None:
    """20,000 payments in a month: the CSV streams every one, with the totals the page shows."""
    import datetime as dt
    import ssl

    from sqlalchemy import insert

    from host_tools.registry.models import Person

    reg = world
    n = 20_000
    with Session(reg.engine) as s:
        s.add(Device(device_id="enrol-bulk", hmac_secret=bytes(32), ed25519_pub=bytes(32), revoked=False, active=True))
        s.add(Device(device_id="pay-bulk", hmac_secret=bytes(32), ed25519_pub=bytes(32), revoked=False, active=True,
                     role="payout"))
        s.execute(insert(Person), [{"id": i, "status": "active"} for i in range(1, n + 1)])
        s.execute(insert(Record), [dict(record_id=i.to_bytes(16, "big"), device_id="enrol-bulk", boot=1, seq=i,
                                        digest=bytes(32), envelope=b"", credential_id=f"C{i:025d}", officer_id="OF1",
                                        created_t=0, clock_synced=True, fields={}, schema=2, category="veteran",
                                        pin_verifier=bytes(32), pin_failures=0, person_id=i)
                                   for i in range(1, n + 1)])
        s.execute(insert(Payment), [dict(record_id=i.to_bytes(16, "big"), person_id=i, programme="veteran_pension",
                                         period="2026-11", amount=150000, payout_point="pay-bulk",
                                         receipt=f"R{i:09d}", paid_at=dt.datetime(2026, 11, 5, tzinfo=dt.timezone.utc))
                                    for i in range(1, n + 1)])
        s.commit()
    tls = ssl.create_default_context(cadata=reg.keys.ca_pem.decode())
    with httpx.Client(base_url=reg.url, verify=tls, timeout=120, follow_redirects=False) as h:
        ana, _ = _signed_in(h, "ana")
        page = h.get("/console/payments", params={"programme": "veteran_pension", "period": "2026-11"},
                     cookies={"enrol_console": ana})
        assert '<span id="count">20000</span>' in page.text and "3,000,000,000" in page.text
        assert 'id="shown"' in page.text  # the page says it shows some; the CSV has all
        r = h.get("/console/payments.csv", params={"programme": "veteran_pension", "period": "2026-11"},
                  cookies={"enrol_console": ana})
        rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == n and {x["receipt"] for x in rows} == {f"R{i:09d}" for i in range(1, n + 1)}
    assert sum(int(x["amount"]) for x in rows) == 150000 * n
