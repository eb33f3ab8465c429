"""The registry's tables (SQLAlchemy 2).  The schema is created and changed only by the
migrations in migrations/versions/, never by create_all()."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy import false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class Device(Base):
    __tablename__ = "devices"
    device_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    hmac_secret: Mapped[bytes] = mapped_column(LargeBinary(32))
    ed25519_pub: Mapped[bytes] = mapped_column(LargeBinary(32))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    registered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # "enrolment" (pushes records, signs cards: its key is on the trust list) or "payout" (verifies
    # card + PIN, never pushes records, its key trusted for nothing): migration 0003
    role: Mapped[str] = mapped_column(String(16), default="enrolment", server_default="enrolment")
    # a second registrar approved it (proposals.py): until then an enrolment device's cards are
    # trusted by no one and its records pay nothing, and a payout point's claims are refused.
    # Devices registered before migration 0009 were made active by it.
    active: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Record(Base):
    """One enrolment, stored once: UNIQUE(record_id) is what makes every retry safe.
    id is the receipt number the device gets back."""

    __tablename__ = "records"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    record_id: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)
    device_id: Mapped[str] = mapped_column(String(32), ForeignKey("devices.device_id"))
    boot: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    envelope: Mapped[bytes] = mapped_column(LargeBinary)  # empty since migration 0008: never kept (ingest.py)
    credential_id: Mapped[str] = mapped_column(String(32))
    officer_id: Mapped[str] = mapped_column(String(32))
    created_t: Mapped[int] = mapped_column(BigInteger)
    clock_synced: Mapped[bool] = mapped_column(Boolean)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    schema: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # the record's "v"
    # who the person is (schema 2: veteran, retired_civil_servant, ...; None for a v1 record):
    # what the payout programmes are per (migration 0002)
    category: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    pin_verifier: Mapped[bytes] = mapped_column(LargeBinary(32))
    pin_failures: Mapped[int] = mapped_column(Integer, default=0)
    # the UID of the card the device wrote and verified for this record (its journal's CARD entry,
    # synced after the record): a card with the same credential and another UID pays nothing
    # (migration 0006).  None until that entry arrives.
    card_uid: Mapped[bytes | None] = mapped_column(LargeBinary(10), nullable=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # the person this record enrols: always the surviving person (a merge moves its records), so a
    # credential belongs to exactly one person (migration 0007)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), nullable=True, index=True)
    # pushed over USB on an operator's authority: pays nothing until a second operator approves
    # that proposal (migration 0009; None for a record the device itself signed and synced)
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposals.id"), nullable=True, index=True)

    # a credential id names one record, and so one person: by constraint, not by luck (migration 0007)
    __table_args__ = (UniqueConstraint("credential_id", name="uq_records_credential"),)


class Person(Base):
    """Someone the registry knows: one or more records (a re-issue, a duplicate an operator
    confirmed).  A merged person keeps its row (old payments name it) and points at the survivor.
    A person is payable when active and no review holds it (persons.py)."""

    __tablename__ = "persons"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(8), default="active")  # active | merged
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), nullable=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MatchKey(Base):
    """The blocking keys of a person's records (matching.py): a new record is scored only against
    the persons that share one of its keys."""

    __tablename__ = "match_keys"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), primary_key=True)


class Review(Base):
    """A decision waiting for an operator: a likely duplicate (held person vs candidate), or a
    re-issue the registry could not accept by itself.  While open it holds `person_id`."""

    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # duplicate | reissue
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)  # the person held
    other_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), nullable=True, index=True)
    score: Mapped[int] = mapped_column(Integer, default=0)  # per mille (matching.py)
    detail: Mapped[str] = mapped_column(String(200))
    # a "reissue" review: the credential the card held and the one written over it (a "same"
    # decision revokes the first as replaced by the second)
    old_credential: Mapped[str | None] = mapped_column(String(32), nullable=True)
    new_credential: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open | same | different | refused
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Conflict(Base):
    """Same record id, other bytes: kept aside for a person to look at, never merged."""

    __tablename__ = "conflicts"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    record_id: Mapped[bytes] = mapped_column(LargeBinary(16), index=True)
    device_id: Mapped[str] = mapped_column(String(32))
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Nonce(Base):
    """Nonces seen inside the time window: a request that reuses one is a replay."""

    __tablename__ = "nonces"
    device_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger, index=True)


class Event(Base):
    """The registry's trail: every operator action and payment, conflicts, rejections, revocations.
    Hash-chained (events.py): `seq` numbers them without gaps, `hash` covers the event and the hash
    of the one before, so an edited, deleted or reordered event is found by `registry audit`."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    device_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    detail: Mapped[str] = mapped_column(Text)
    operator: Mapped[str | None] = mapped_column(String(32), nullable=True)  # who, for an operator's act
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)  # the role they acted in
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)  # why, in their words
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True, unique=True)  # None: before 0009
    prev_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)


class Operator(Base):
    """A person who runs the registry (operators.py): a name, an Argon2 password hash, an optional
    TOTP second factor (sealed under the registry's device key), roles.  Never deleted (the trail
    names them): disabled."""

    __tablename__ = "operators"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary(80), nullable=True)
    roles: Mapped[str] = mapped_column(String(64))  # comma-separated, sorted
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # a password someone else chose (at creation, at a reset): the operator must choose their own
    # before anything else
    must_change: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OperatorToken(Base):
    """A signed-in operator's bearer token: only its SHA-256 is kept; it expires, and signing out,
    a password change or disabling the operator revokes it."""

    __tablename__ = "operator_tokens"
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), index=True)
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Proposal(Base):
    """An act that can create or move money, proposed by one operator and carried out only when a
    different operator approves it (proposals.py).  It expires, or is refused with a reason."""

    __tablename__ = "proposals"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(24))
    subject: Mapped[str] = mapped_column(String(64), index=True)  # what it acts on (a device id, a person)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(200))
    proposed_by: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)  # open|approved|refused|expired
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)


class RevokedCredential(Base):
    """A card's credential that pays nothing any more (lost, stolen, replaced by a re-issue)."""

    __tablename__ = "revoked_credentials"
    credential_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    reason: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # the credential a supervisor-confirmed re-issue wrote over this one on the same card: the same
    # person, so what this credential was paid in a period counts for the new one (migration 0006)
    replaced_by: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)


class Programme(Base):
    """A payment programme: an amount per beneficiary category each month (a veteran's pension)."""

    __tablename__ = "programmes"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    amounts: Mapped[dict[str, int]] = mapped_column(JSON)  # category -> riel a month
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Payment(Base):
    """One payment: UNIQUE(person, programme, period) is what makes a second claim "already paid".
    record_id is the record whose card was presented; person_id the person paid (None only for a
    second payment found by migration 0007, made before persons existed: `registry audit` lists it)."""

    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    record_id: Mapped[bytes] = mapped_column(LargeBinary(16), ForeignKey("records.record_id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), nullable=True, index=True)
    programme: Mapped[str] = mapped_column(String(32), ForeignKey("programmes.code"))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM, Cambodian time
    amount: Mapped[int] = mapped_column(BigInteger)
    payout_point: Mapped[str] = mapped_column(String(32), ForeignKey("devices.device_id"))
    receipt: Mapped[str] = mapped_column(String(16), unique=True)
    paid_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    # proof that the PIN was checked: HMAC(registry PIN key, the payment's fields), made only on
    # the path that verified it (payouts.py); a row written by hand has none that checks
    proof: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)

    __table_args__ = (UniqueConstraint("person_id", "programme", "period", name="uq_payments_person_once"),
                      Index("ix_payments_programme_period", "programme", "period"))
