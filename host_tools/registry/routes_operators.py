"""Operators and approvals: the one-time bootstrap, sign-in and out, passwords, operator accounts
(administrators), proposals to approve or refuse (dual control), the event trail and its export."""


import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import events, operators, proposals
from .context import ERRORS, REASON, Context, RowId
from .models import Event
from .operators import ROLES, Actor

class BootstrapIn(BaseModel):
    name: str = Field(pattern=operators.NAME_RE)
    password: str = Field(min_length=1, max_length=256)


class SignInIn(BaseModel):
    name: str = Field(pattern=r"^[^\x00-\x1f\x7f]{1,64}$", description="printable: PostgreSQL refuses a NUL")
    password: str = Field(min_length=1, max_length=256)
    code: str | None = Field(None, pattern=r"^[0-9]{6}$", description="the second factor's 6 digits, if set")
    ttl_s: int = Field(operators.TOKEN_TTL_S, ge=60, le=operators.TOKEN_TTL_MAX_S)


class OperatorIn(BaseModel):
    name: str = Field(pattern=operators.NAME_RE)
    password: str = Field(min_length=1, max_length=256, description="a first password they must replace")
    roles: list[Annotated[str, Field(pattern="^(" + "|".join(ROLES) + ")$")]] = Field(min_length=1, max_length=4)
    second_factor: bool = False


class PasswordIn(BaseModel):
    current: str = Field(min_length=1, max_length=256)
    new: str = Field(min_length=1, max_length=256)


class ResetIn(BaseModel):
    password: str = Field(min_length=1, max_length=256)
    reason: str = Field(pattern=REASON)


class ReasonIn(BaseModel):
    reason: str = Field(pattern=REASON)


def router(ctx: Context) -> APIRouter:
    r = APIRouter()
    Admin = Annotated[Actor, Depends(ctx.role("administrator"))]
    Anyone = Annotated[Actor, Depends(ctx.role(*ROLES))]
    Watcher = Annotated[Actor, Depends(ctx.role("auditor", "administrator"))]

    @r.post("/v1/admin/bootstrap", status_code=201)
    def bootstrap(body: BootstrapIn, request: Request) -> dict[str, Any]:
        """The first administrator, made with the registry's shared token (keys/operator_token);
        the token does nothing once any operator exists."""
        given = (request.headers.get("authorization") or "").removeprefix("Bearer ")

        def work(s: Session) -> dict[str, Any]:
            actor = operators.bootstrap(s, ctx.keys, given, body.name, body.password)
            return {"name": actor.name, "roles": list(actor.roles)}

        return ctx.in_transaction(work)  # type: ignore[no-any-return]

    @r.post("/v1/auth/login", responses=ERRORS)
    def login(body: SignInIn, request: Request) -> dict[str, Any]:
        """A bearer token for a named operator.  Wrong answers are counted per name (operators.py)
        and per source address (past 30 a minute: 429 before any password is hashed)."""
        token, expires, op = ctx.sign_in(request.client.host if request.client else "?", body.name, body.password,
                                         body.code, body.ttl_s)
        return {"token": token, "expires_at": expires.isoformat(), "name": op.name,
                "roles": list(operators.roles_of(op)), "must_change_password": op.must_change}

    @r.post("/v1/auth/logout")
    def logout(actor: Anyone) -> dict[str, Any]:
        ctx.in_transaction(lambda s: operators.sign_out(s, actor))
        return {"signed_out": True}

    @r.post("/v1/auth/password")
    def change_password(body: PasswordIn, actor: Anyone) -> dict[str, Any]:
        """An operator's own password (their other tokens are revoked)."""
        ctx.in_transaction(lambda s: operators.change_own_password(s, actor, body.current, body.new))
        return {"name": actor.name, "changed": True}

    @r.get("/v1/auth/me")
    def me(actor: Anyone) -> dict[str, Any]:
        return {"name": actor.name, "roles": list(actor.roles)}

    @r.post("/v1/admin/operators", status_code=201, responses={202: {"description": "proposed"}})
    def add_operator(body: OperatorIn, actor: Admin) -> JSONResponse:
        """An auditor's account at once; one that can act on money proposed, for a second
        administrator (the answer's "proposal"), 202."""
        def work(s: Session) -> dict[str, Any]:
            uri, proposal = operators.add(s, ctx.keys, actor, body.name, body.password, list(body.roles),
                                          body.second_factor)
            return {"name": body.name, "roles": sorted(set(body.roles)), "totp_uri": uri, "proposal": proposal}

        out = ctx.in_transaction(work)
        return JSONResponse(out, status_code=202 if out["proposal"] else 201)

    @r.get("/v1/admin/operators")
    def list_operators(_actor: Watcher) -> list[dict[str, Any]]:
        with ctx.sessions() as s:
            return operators.listing(s)

    @r.post("/v1/admin/operators/{name}/disable")
    def disable(name: Annotated[str, operators_path()], body: ReasonIn, actor: Admin) -> dict[str, Any]:
        ctx.in_transaction(lambda s: operators.disable(s, actor, name, body.reason))
        return {"name": name, "disabled": True}

    @r.post("/v1/admin/operators/{name}/password")
    def reset(name: Annotated[str, operators_path()], body: ResetIn, actor: Admin) -> dict[str, Any]:
        proposal = ctx.in_transaction(lambda s: operators.reset_password(s, actor, name, body.password, body.reason))
        return {"name": name, "must_change_password": name != actor.name, "proposal": proposal}

    @r.get("/v1/admin/proposals")
    def list_proposals(_actor: Anyone,
                       status: Annotated[str, Query(pattern=r"^(open|approved|refused|expired|all)$")] = "open",
                       limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> list[dict[str, Any]]:
        with ctx.sessions() as s:
            return proposals.listing(s, status, limit)

    @r.post("/v1/admin/proposals/{proposal_id}/approve")
    def approve(proposal_id: RowId, body: ReasonIn, actor: Anyone) -> dict[str, Any]:
        """Carry out another operator's proposal (never one's own)."""
        return ctx.in_transaction(lambda s: proposals.approve(s, proposal_id, actor, body.reason))  # type: ignore

    @r.post("/v1/admin/proposals/{proposal_id}/refuse")
    def refuse(proposal_id: RowId, body: ReasonIn, actor: Anyone) -> dict[str, Any]:
        return ctx.in_transaction(lambda s: proposals.refuse(s, proposal_id, actor, body.reason))  # type: ignore

    @r.get("/v1/admin/events")
    def list_events(_actor: Watcher, limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> list[dict[str, Any]]:
        with ctx.sessions() as s:
            rows = s.scalars(select(Event).order_by(Event.id.desc()).limit(limit))
            return [{"seq": e.seq, "at": e.at.isoformat(), "kind": e.kind, "device_id": e.device_id,
                     "operator": e.operator, "role": e.role, "reason": e.reason, "detail": e.detail} for e in rows]

    @r.get("/v1/admin/events/export", response_class=StreamingResponse,
           responses={200: {"content": {"application/x-ndjson": {}}, "description": "the chain, one event a line"}})
    def export_events(_actor: Watcher) -> StreamingResponse:
        """The whole chain, oldest first, each event with its hash and the one before: checkable
        offline (`enrolctl registry events verify FILE`)."""
        def lines() -> Iterator[bytes]:
            with ctx.sessions() as s:
                for row in events.export_rows(s):
                    yield (json.dumps(row, ensure_ascii=False) + "\n").encode()

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    return r


def operators_path() -> Any:
    from fastapi import Path as PathParam

    return PathParam(pattern=operators.NAME_RE)
