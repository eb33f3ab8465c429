"""The registry's tables (SQLAlchemy 2).  The schema is created and changed only by the
migrations in migrations/versions/, never by create_all()."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
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
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    credential_id: Mapped[str] = mapped_column(String(16))
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

    __table_args__ = (Index("ix_records_credential", "credential_id", "device_id"),)


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
    """The registry's own audit log: conflicts, rejections, revocations, refused requests."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    device_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    detail: Mapped[str] = mapped_column(Text)


class RevokedCredential(Base):
    """A card's credential that pays nothing any more (lost, stolen, replaced by a re-issue)."""

    __tablename__ = "revoked_credentials"
    credential_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    reason: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # the credential a supervisor-confirmed re-issue wrote over this one on the same card: the same
    # person, so what this credential was paid in a period counts for the new one (migration 0006)
    replaced_by: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)


class Programme(Base):
    """A payment programme: an amount per beneficiary category each month (a veteran's pension)."""

    __tablename__ = "programmes"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    amounts: Mapped[dict[str, int]] = mapped_column(JSON)  # category -> riel a month
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Payment(Base):
    """One payment: UNIQUE(person, programme, period) is what makes a second claim "already paid"."""

    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    record_id: Mapped[bytes] = mapped_column(LargeBinary(16), ForeignKey("records.record_id"))
    programme: Mapped[str] = mapped_column(String(32), ForeignKey("programmes.code"))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM, Cambodian time
    amount: Mapped[int] = mapped_column(BigInteger)
    payout_point: Mapped[str] = mapped_column(String(32), ForeignKey("devices.device_id"))
    receipt: Mapped[str] = mapped_column(String(16), unique=True)
    paid_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("record_id", "programme", "period", name="uq_payments_once"),
                      Index("ix_payments_programme_period", "programme", "period"))
