"""The reference registry: an ASGI app (FastAPI) over SQLAlchemy, wired from its routers.

  routes_sync.py       health, clock, an enrolment device's batches, the trust list
  routes_payouts.py    a payout point's checks and claims, programmes, payments
  routes_devices.py    devices and payout points as registrars manage them, USB pushes
  routes_persons.py    held duplicates, persons, merges, credentials, the records export
  routes_operators.py  bootstrap, sign-in, operators, proposals (dual control), the event trail
  console/routes.py    the operators' web console (/console), in Khmer and English

Principals (context.py): a device signs with its HMAC secret and has one role (an enrolment
device pushes batches, a payout point verifies card + PIN); an operator signs in by name and
acts in one of their roles (operators.py).  A principal on a route not of its kind or role: 403.
Every error is JSON {"error": reason} with a 4xx/5xx status, and nothing is written for a
refused request.  Protocol: protocol.py.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import limits, routes_devices, routes_operators, routes_payouts, routes_persons, routes_sync
from .console import routes as console
from .context import ERROR_SCHEMA, ERRORS, Context, log
from .keys import RegistryKeys


def create_app(keys: RegistryKeys, engine: Engine) -> FastAPI:
    app = FastAPI(title="Enrolment registry", version="1")
    app.add_middleware(limits.RequestLimits)
    ctx = Context(keys, engine)
    app.state.engine = engine
    app.state.limiter = ctx.limiter
    app.state.context = ctx

    @app.exception_handler(StarletteHTTPException)  # FastAPI's own, and the router's 404 and 405
    async def _http_error(req: Request, exc: StarletteHTTPException) -> Response:
        body = exc.detail if isinstance(exc.detail, dict) else {"error": str(exc.detail).lower()}
        if req.url.path.startswith("/console/"):  # a person in a browser: a page, not JSON
            return console.plain_page(exc.status_code, str(body.get("error", "")))
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(_req: Request, exc: Exception) -> JSONResponse:
        # the type only: an exception's text can hold SQL parameters, that is personal data
        log.error("internal error: %s", type(exc).__name__)
        return JSONResponse({"error": "internal error"}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _invalid(req: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        reason = f"invalid request: {where}: {first.get('msg', '')}"
        if req.url.path.startswith("/console/"):
            return console.plain_page(422, reason + " (nothing was changed)")
        return JSONResponse({"error": reason}, status_code=422)

    @app.exception_handler(DBAPIError)  # the database failed (down, full, its schema broken)
    async def _db_down(_req: Request, exc: DBAPIError) -> JSONResponse:
        log.error("database unavailable: %s", type(getattr(exc, "orig", exc)).__name__)
        return JSONResponse({"error": "database unavailable"}, status_code=503, headers={"Retry-After": "5"})

    for module in (routes_sync, routes_payouts, routes_devices, routes_persons, routes_operators, console):
        app.include_router(module.router(ctx))

    def openapi() -> dict[str, Any]:
        """FastAPI's document with the error shape this app really answers: {"error": reason}
        for 422 too (FastAPI would describe its own {"detail": [...]}), and 401/403 on operator routes."""
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
            for path, ops in doc.get("paths", {}).items():
                for op in ops.values():
                    responses = op.setdefault("responses", {})
                    if "422" in responses:
                        responses["422"] = {"description": "invalid request",
                                            "content": {"application/json": {"schema": ERROR_SCHEMA}}}
                    if limits.operator_route(path):
                        responses.setdefault("401", ERRORS[401])
                        responses.setdefault("403", {"description": "not this operator's role",
                                                     "content": {"application/json": {"schema": ERROR_SCHEMA}}})
                        responses.setdefault("409", {"description": "refused in the state it is in",
                                                     "content": {"application/json": {"schema": ERROR_SCHEMA}}})
            for name in ("HTTPValidationError", "ValidationError"):
                doc.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
