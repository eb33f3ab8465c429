"""The registry's web console (/console): server-rendered pages and plain forms over the same
services as the API, in Khmer or English, with no script at all.

Safety: the session is the operator's token in a cookie (Secure, HttpOnly, SameSite=Strict,
Path=/console); every form carries a token derived from it (CSRF: a form sent from elsewhere, or
kept from another session, changes nothing); every page is sent with a Content-Security-Policy
that allows no script, no frame and forms to this site only; every value is escaped by Jinja2
and long ones are cut; names are shown isolated (`<bdi>`), so a right-to-left mark cannot turn
the page around.  Acts that create money are proposals, as in the API (proposals.py).
"""

import csv
import hashlib
import hmac
import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from .. import operators, proposals, routes_devices
from ..context import ApiError, Context
from ..models import Review
from ..operators import ROLES, Actor, OperatorError
from ..payouts import current_period
from . import views
from .words import LANGS, label, word

HERE = Path(__file__).resolve().parent
COOKIE = "enrol_console"
LANG_COOKIE = "enrol_lang"
LOGIN_COOKIE = "enrol_login"
CSP = ("default-src 'none'; style-src 'self'; font-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
CUT = 120  # characters of a value shown (names, reasons, details): the rest is cut, with a mark
CODE = r"^[a-z][a-z0-9_]{0,31}$"
PERIOD = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
REASON = r"^[^\x00-\x1f\x7f]{1,200}$"


def _khmer_font() -> Path | None:
    from fontpkg_noto_sans_khmer import ROOT

    return next(Path(ROOT).rglob("NotoSansKhmer*.ttf"), None) if ROOT else None


def _cut(value: object, n: int = CUT) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= n else text[:n] + "…"


_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                   trim_blocks=True, lstrip_blocks=True)
_env.filters["cut"] = _cut


def _day(t: object) -> str:
    """A device's time of enrolment (seconds) as a date, or "?" if the device's clock was never set."""
    import datetime as dt

    try:
        return dt.datetime.fromtimestamp(int(t), dt.timezone.utc).strftime("%Y-%m-%d") if int(t) > 0 else "?"  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError, OSError):
        return "?"


def csrf_of(actor: Actor) -> str:
    """The form token of a session: only who holds the session's cookie can know it."""
    return hmac.new(actor.token_hash, b"console-form", hashlib.sha256).hexdigest()[:32]


def plain_page(status: int, reason: str) -> HTMLResponse:
    """A console error page for what no route handled (a malformed address or form, a page that
    does not exist): HTML, escaped, under the console's policy; nothing was changed."""
    from markupsafe import escape

    html = (f'<!doctype html><html><head><meta charset="utf-8"><title>{status}</title>'
            f'<link rel="stylesheet" href="/console/static/console.css"></head><body><main>'
            f'<h1 class="warn" id="message">{status}</h1><p id="detail">{escape(_cut(reason, 300))}</p>'
            f'<p><a href="/console/">/console/</a></p></main></body></html>')
    out = HTMLResponse(html, status_code=status)
    out.headers["Content-Security-Policy"] = CSP
    out.headers["Cache-Control"] = "no-store"
    return out


class Page(Exception):
    """Stop and show this page (a refusal, a sign-in)."""

    def __init__(self, response: Response) -> None:
        self.response = response


def router(ctx: Context) -> APIRouter:
    r = APIRouter(include_in_schema=False)

    def lang_of(request: Request) -> str:
        asked = request.query_params.get("lang")
        if asked in LANGS:
            return asked
        return request.cookies.get(LANG_COOKIE) if request.cookies.get(LANG_COOKIE) in LANGS else "km"

    def render(request: Request, template: str, status: int = 200, actor: Actor | None = None,
               **values: Any) -> HTMLResponse:
        lang = lang_of(request)
        html = _env.get_template(template).render(
            t=lambda key: word(key, lang), lang=lang, actor=actor, csrf=csrf_of(actor) if actor else "",
            place=lambda code: views.place(str(code or ""), lang), day=_day,
            label=lambda code: label(code, lang),
            path=request.url.path, **values)
        out = HTMLResponse(html, status_code=status)
        secure(out)
        if request.query_params.get("lang") in LANGS:
            out.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, secure=True, httponly=True, samesite="strict",
                           path="/console")
        return out

    def secure(out: Response) -> None:
        out.headers["Content-Security-Policy"] = CSP
        out.headers["X-Content-Type-Options"] = "nosniff"
        out.headers["Referrer-Policy"] = "no-referrer"
        out.headers["Cache-Control"] = "no-store"

    def actor(request: Request, *accepted: str) -> Actor:
        token = request.cookies.get(COOKIE) or ""
        if not token or len(token) > 100:
            raise Page(RedirectResponse("/console/login", status_code=303))
        try:
            return ctx.actor_for(token, accepted)
        except ApiError as e:
            if e.status_code == 401:
                page = login_form(request, 401, word("expired", lang_of(request)))
                page.delete_cookie(COOKIE, path="/console")
                raise Page(page) from None
            raise Page(render(request, "message.html", 403, message=word("forbidden", lang_of(request)),
                              detail=e.detail.get("error", "") if isinstance(e.detail, dict) else "")) from None

    def form_ok(request: Request, who: Actor, token: str) -> None:
        if not hmac.compare_digest(token.encode(), csrf_of(who).encode()):
            raise Page(render(request, "message.html", 403, actor=who, message=word("bad_form", lang_of(request))))

    def act(request: Request, who: Actor, work: Callable[[Session], Any], back: str) -> Response:
        """Run an act in a transaction; show the refusal's reason, or go back to the page."""
        try:
            ctx.in_transaction(work)
        except ApiError as e:
            reason = e.detail.get("error", "") if isinstance(e.detail, dict) else str(e.detail)
            return render(request, "message.html", e.status_code, actor=who, message=word("refused", lang_of(request)),
                          detail=reason, back=back)
        out = RedirectResponse(back, status_code=303)
        secure(out)
        return out

    def page(handler: Callable[..., Response]) -> Callable[..., Response]:
        """Turn a Page raised anywhere in the handler into its response."""
        import functools

        @functools.wraps(handler)
        def wrapped(*a: Any, **kw: Any) -> Response:
            try:
                return handler(*a, **kw)
            except Page as p:
                return p.response

        return wrapped

    @r.get("/console/static/console.css")
    def css() -> Response:
        out = FileResponse(HERE / "static" / "console.css", media_type="text/css")
        out.headers["Cache-Control"] = "max-age=3600"
        return out

    @r.get("/console/static/khmer.ttf")
    def font() -> Response:
        path = _khmer_font()
        if path is None:
            return Response(status_code=404)
        return FileResponse(path, media_type="font/ttf", headers={"Cache-Control": "max-age=86400"})

    def login_form(request: Request, status: int = 200, message: str = "") -> HTMLResponse:
        """The sign-in page, with a form token bound to a cookie of its own: a sign-in posted from
        another site (into the attacker's account) is refused."""
        import secrets

        nonce = secrets.token_urlsafe(24)
        out = render(request, "login.html", status, form_token=nonce, message=message)
        out.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, secure=True, httponly=True, samesite="strict",
                       path="/console")
        return out

    @r.get("/console/login")
    def login_page(request: Request) -> Response:
        return login_form(request)

    @r.post("/console/login")
    def login(request: Request, name: Annotated[str, Form(max_length=64)],
              password: Annotated[str, Form(max_length=256)],
              code: Annotated[str, Form(max_length=6)] = "",
              form_token: Annotated[str, Form(max_length=64)] = "") -> Response:
        lang = lang_of(request)
        expected = request.cookies.get(LOGIN_COOKIE) or ""
        if not expected or not hmac.compare_digest(form_token.encode(), expected.encode()):
            return login_form(request, 403, word("bad_form", lang))
        if any(ord(c) < 32 for c in name):
            return login_form(request, 401, word("wrong_sign_in", lang))
        try:
            token, expires, op = ctx.sign_in(request.client.host if request.client else "?", name, password,
                                             code or None)
        except ApiError as e:
            why = "locked" if e.status_code == 429 else "wrong_sign_in"
            return login_form(request, e.status_code, word(why, lang))
        if op.must_change:
            return render(request, "message.html", 403, message=word("forbidden", lang),
                          detail="choose your own password first: enrolctl registry operator passwd")
        out = RedirectResponse("/console/", status_code=303)
        out.set_cookie(COOKIE, token, max_age=int(expires.timestamp() - time.time()), secure=True, httponly=True,
                       samesite="strict", path="/console")
        secure(out)
        return out

    @r.post("/console/logout")
    @page
    def logout(request: Request, csrf: Annotated[str, Form(max_length=64)] = "") -> Response:
        who = actor(request, *ROLES)
        form_ok(request, who, csrf)
        ctx.in_transaction(lambda s: operators.sign_out(s, who))
        out = RedirectResponse("/console/login", status_code=303)
        out.delete_cookie(COOKIE, path="/console")
        secure(out)
        return out

    @r.get("/console/")
    @page
    def overview(request: Request) -> Response:
        who = actor(request, *ROLES)
        period = current_period(time.time())
        with ctx.sessions() as s:
            data = views.overview(s, period, lang_of(request))
        return render(request, "overview.html", actor=who, period=period, **data)

    @r.get("/console/reviews")
    @page
    def reviews(request: Request) -> Response:
        who = actor(request, "reviewer", "auditor")
        from ..routes_persons import person_view

        from sqlalchemy import select

        with ctx.sessions() as s:
            rows = [{"review": x, "person": person_view(s, x.person_id),
                     "other": person_view(s, x.other_id) if x.other_id is not None else None}
                    for x in s.scalars(select(Review).where(Review.status == "open").order_by(Review.id).limit(100))]
            waiting = [p for p in proposals.listing(s, "open", 500) if p["kind"] == "review-decision"]
        return render(request, "reviews.html", actor=who, rows=rows, waiting={int(p["subject"]): p for p in waiting})

    @r.post("/console/reviews/{review_id}/decide")
    @page
    def decide(request: Request, review_id: Annotated[int, PathParam(gt=0, lt=2**62)],
               decision: Annotated[str, Form(pattern="^(same|different)$")],
               reason: Annotated[str, Form(pattern=REASON)], csrf: Annotated[str, Form(max_length=64)]) -> Response:
        who = actor(request, "reviewer")
        form_ok(request, who, csrf)

        def work(s: Session) -> None:
            review = s.get(Review, review_id)
            if review is None or review.status != "open":
                raise OperatorError(409, f"review {review_id} is not open (decided by someone else?)")
            proposals.propose(s, who, "review-decision", str(review_id), {"decision": decision}, reason)

        return act(request, who, work, "/console/reviews")

    @r.get("/console/proposals")
    @page
    def proposal_list(request: Request) -> Response:
        who = actor(request, *ROLES)
        with ctx.sessions() as s:
            rows = proposals.listing(s, "open", 500)
        return render(request, "proposals.html", actor=who, rows=rows)

    @r.post("/console/proposals/{proposal_id}/{verb}")
    @page
    def decide_proposal(request: Request, proposal_id: Annotated[int, PathParam(gt=0, lt=2**62)],
                        verb: Annotated[str, PathParam(pattern="^(approve|refuse)$")],
                        reason: Annotated[str, Form(pattern=REASON)],
                        csrf: Annotated[str, Form(max_length=64)]) -> Response:
        who = actor(request, *ROLES)
        form_ok(request, who, csrf)
        do = proposals.approve if verb == "approve" else proposals.refuse
        return act(request, who, lambda s: do(s, proposal_id, who, reason), "/console/proposals")

    @r.get("/console/devices")
    @page
    def devices(request: Request) -> Response:
        who = actor(request, "registrar", "auditor")
        with ctx.sessions() as s:
            rows = views.devices(s)
            waiting = {p["subject"]: p for p in proposals.listing(s, "open", 500) if p["kind"] == "activate-device"}
        return render(request, "devices.html", actor=who, devices=rows, waiting=waiting)

    @r.post("/console/devices")
    @page
    def register(request: Request, device_id: Annotated[str, Form(pattern=r"^[A-Za-z0-9._-]{1,32}$")],
                 secret: Annotated[str, Form(pattern=r"^[0-9a-f]{64}$")],
                 public_key: Annotated[str, Form(pattern=r"^[0-9a-f]{64}$")],
                 role: Annotated[str, Form(pattern="^(enrolment|payout)$")],
                 reason: Annotated[str, Form(pattern=REASON)], csrf: Annotated[str, Form(max_length=64)]) -> Response:
        who = actor(request, "registrar")
        form_ok(request, who, csrf)

        def work(s: Session) -> None:
            routes_devices.register(s, ctx.keys, who, device_id, bytes.fromhex(secret), bytes.fromhex(public_key),
                                    role, reason)

        return act(request, who, work, "/console/devices")

    @r.post("/console/devices/{device_id}/revoke")
    @page
    def revoke(request: Request, device_id: Annotated[str, PathParam(pattern=r"^[A-Za-z0-9._-]{1,32}$")],
               reason: Annotated[str, Form(pattern=REASON)], csrf: Annotated[str, Form(max_length=64)]) -> Response:
        """One registrar may stop a device (it creates no money)."""
        who = actor(request, "registrar")
        form_ok(request, who, csrf)
        return act(request, who, lambda s: routes_devices.revoke_device(s, who, device_id, reason),
                   "/console/devices")

    @r.post("/console/credentials/{credential_id}/unlock")
    @page
    def unlock(request: Request, credential_id: Annotated[str, PathParam(pattern=r"^[0-9A-Z-]{9,26}$")],
               person_id: Annotated[int, Form(gt=0, lt=2**62)], reason: Annotated[str, Form(pattern=REASON)],
               csrf: Annotated[str, Form(max_length=64)]) -> Response:
        """A locked card's PIN tries cleared: proposed, for a second reviewer."""
        who = actor(request, "reviewer")
        form_ok(request, who, csrf)

        def work(s: Session) -> None:
            from sqlalchemy import select

            from ..models import Record

            if s.scalars(select(Record.id).where(Record.credential_id == credential_id)).first() is None:
                raise OperatorError(404, f"no record for credential {credential_id}")
            proposals.propose(s, who, "unlock-pin", credential_id, {}, reason)

        return act(request, who, work, f"/console/persons/{person_id}")

    @r.get("/console/persons")
    @page
    def find(request: Request, q: Annotated[str, Query(max_length=64)] = "") -> Response:
        who = actor(request, "reviewer", "auditor")
        with ctx.sessions() as s:
            found = views.search(s, q) if all(ord(c) >= 32 for c in q) else []
        return render(request, "persons.html", actor=who, q=q, found=found)

    @r.get("/console/persons/{person_id}")
    @page
    def person(request: Request, person_id: Annotated[int, PathParam(gt=0, lt=2**62)]) -> Response:
        who = actor(request, "reviewer", "auditor")
        with ctx.sessions() as s:
            data = views.person(s, person_id)
        if data is None:
            return render(request, "message.html", 404, actor=who, message=word("no_such_person", lang_of(request)))
        return render(request, "person.html", actor=who, p=data)

    @r.get("/console/payments")
    @page
    def payments(request: Request, programme: Annotated[str, Query(pattern=CODE)] = "",
                 period: Annotated[str, Query(pattern=PERIOD)] = "") -> Response:
        who = actor(request, "registrar", "auditor")
        period = period or current_period(time.time())
        with ctx.sessions() as s:
            from sqlalchemy import select

            from ..models import Programme

            codes = list(s.scalars(select(Programme.code).order_by(Programme.code)))
            programme = programme or (codes[0] if codes else "")
            data = views.payments(s, programme, period) if programme else {"rows": [], "totals": [], "count": 0,
                                                                            "sum": 0}
        return render(request, "payments.html", actor=who, codes=codes, programme=programme, period=period, **data)

    @r.get("/console/payments.csv")
    @page
    def payments_csv(request: Request, programme: Annotated[str, Query(pattern=CODE)],
                     period: Annotated[str, Query(pattern=PERIOD)]) -> Response:
        actor(request, "registrar", "auditor")

        def lines() -> Iterator[str]:
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(["programme", "period", "receipt", "credential_id", "amount", "payout_point", "paid_at"])
            with ctx.sessions() as s:
                for pay, cred in views.payment_rows(s, programme, period):
                    w.writerow([programme, period, pay.receipt, cred, pay.amount, pay.payout_point,
                                pay.paid_at.isoformat()])
                    if buf.tell() > 65536:
                        yield buf.getvalue()
                        buf.seek(0)
                        buf.truncate()
            yield buf.getvalue()

        out = StreamingResponse(lines(), media_type="text/csv; charset=utf-8",
                                headers={"Content-Disposition": f'attachment; filename="payments-{programme}-{period}.csv"'})
        secure(out)
        return out

    @r.get("/console/operators")
    @page
    def operator_list(request: Request) -> Response:
        who = actor(request, "administrator", "auditor")
        with ctx.sessions() as s:
            rows = operators.listing(s)
        return render(request, "operators.html", actor=who, rows=rows)

    @r.post("/console/operators/{name}/disable")
    @page
    def disable(request: Request, name: Annotated[str, PathParam(pattern=operators.NAME_RE)],
                reason: Annotated[str, Form(pattern=REASON)], csrf: Annotated[str, Form(max_length=64)]) -> Response:
        who = actor(request, "administrator")
        form_ok(request, who, csrf)
        return act(request, who, lambda s: operators.disable(s, who, name, reason), "/console/operators")

    @r.get("/console/events")
    @page
    def events(request: Request, kind: Annotated[str, Query(pattern=r"^[a-z-]{0,32}$")] = "",
               operator: Annotated[str, Query(pattern=r"^[a-z0-9._-]{0,32}$")] = "") -> Response:
        who = actor(request, "auditor", "administrator")
        with ctx.sessions() as s:
            rows, wrong, seq = views.trail(s, kind, operator, 300)
        return render(request, "events.html", actor=who, rows=rows, wrong=wrong, seq=seq, kind=kind, operator=operator)

    return r
