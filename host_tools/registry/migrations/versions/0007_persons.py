"""persons: records and payments belong to a person; held duplicates; unique credential ids

Revision ID: 0007
Revises: 0006

The data step files every stored record under a person: one person per record, except that the
records a re-issue chain links (revoked_credentials.replaced_by) are one person.  Blocking keys
come from host_tools/registry/matching.py as it stood at this revision (existing records are not
re-matched against each other here: `registry audit` and the review list are where an operator
finds old duplicates).  A legacy credential id held by two records keeps the first; the later
record gets its full id, revoked.  A payment becomes its record's person's; a second payment of
one person in one programme-period (possible before persons existed) keeps person_id NULL and is
logged, so UNIQUE(person, programme, period) can stand and `registry audit` lists it.
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('persons',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('merged_into', _ID, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merged_into'], ['persons.id'], name='fk_persons_merged_into'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_persons_merged_into', 'persons', ['merged_into'])
    op.create_table('match_keys',
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('person_id', _ID, nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name='fk_match_keys_person'),
    sa.PrimaryKeyConstraint('key', 'person_id')
    )
    op.create_table('reviews',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('person_id', _ID, nullable=False),
    sa.Column('other_id', _ID, nullable=True),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('detail', sa.String(length=200), nullable=False),
    sa.Column('old_credential', sa.String(length=32), nullable=True),
    sa.Column('new_credential', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name='fk_reviews_person'),
    sa.ForeignKeyConstraint(['other_id'], ['persons.id'], name='fk_reviews_other'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_reviews_person_id', 'reviews', ['person_id'])
    op.create_index('ix_reviews_other_id', 'reviews', ['other_id'])
    op.create_index('ix_reviews_status', 'reviews', ['status'])
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_id', _ID, nullable=True))
        batch_op.alter_column('credential_id', type_=sa.String(length=32), existing_type=sa.String(length=16))
    with op.batch_alter_table('revoked_credentials', schema=None) as batch_op:
        batch_op.alter_column('credential_id', type_=sa.String(length=32), existing_type=sa.String(length=16))
        batch_op.alter_column('replaced_by', type_=sa.String(length=32), existing_type=sa.String(length=16))
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_id', _ID, nullable=True))
        batch_op.add_column(sa.Column('proof', sa.LargeBinary(length=32), nullable=True))

    _carry_over(op.get_bind())

    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_index('ix_records_credential')
        batch_op.create_unique_constraint('uq_records_credential', ['credential_id'])
        batch_op.create_index('ix_records_person_id', ['person_id'])
        batch_op.create_foreign_key('fk_records_person', 'persons', ['person_id'], ['id'])
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint('uq_payments_once', type_='unique')
        batch_op.create_unique_constraint('uq_payments_person_once', ['person_id', 'programme', 'period'])
        batch_op.create_index('ix_payments_person_id', ['person_id'])
        batch_op.create_foreign_key('fk_payments_person', 'persons', ['person_id'], ['id'])


def _carry_over(conn: sa.Connection) -> None:
    from host_tools.registry import matching
    from host_tools.registry.ingest import full_credential_id

    records = sa.table('records', sa.column('id'), sa.column('record_id'), sa.column('credential_id'),
                       sa.column('fields'), sa.column('person_id'))
    persons = sa.table('persons', sa.column('id'), sa.column('status'), sa.column('merged_into'),
                       sa.column('created_at'))
    keys = sa.table('match_keys', sa.column('key'), sa.column('person_id'))
    revoked = sa.table('revoked_credentials', sa.column('credential_id'), sa.column('reason'),
                       sa.column('at'), sa.column('replaced_by'))
    payments = sa.table('payments', sa.column('id'), sa.column('record_id'), sa.column('programme'),
                        sa.column('period'), sa.column('person_id'))
    events = sa.table('events', sa.column('at'), sa.column('kind'), sa.column('device_id'), sa.column('detail'))
    import datetime as dt
    import json

    now = dt.datetime.now(dt.timezone.utc)
    rows = conn.execute(sa.select(records.c.id, records.c.record_id, records.c.credential_id, records.c.fields)
                        .order_by(records.c.id)).all()
    # one credential id, one record: later holders get their full id, revoked
    seen: set[str] = set()
    by_cred: dict[str, int] = {}
    for rid_no, rid, cred, _ in rows:
        if cred in seen:
            full = full_credential_id(bytes(rid))
            conn.execute(records.update().where(records.c.id == rid_no).values(credential_id=full))
            conn.execute(revoked.insert().values(credential_id=full, at=now, replaced_by=None,
                                                 reason="credential id collided with another record's: issue a new card"))
            conn.execute(events.insert().values(at=now, kind="credential-collision", device_id=None,
                                                detail=f"migration 0007: record {bytes(rid).hex()} stored as {full}"))
            cred = full
        seen.add(cred)
        by_cred[cred] = rid_no
    # re-issue chains: union-find over records
    parent = {r[0]: r[0] for r in rows}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for old, new in conn.execute(sa.select(revoked.c.credential_id, revoked.c.replaced_by)
                                 .where(revoked.c.replaced_by.is_not(None))):
        if old in by_cred and new in by_cred:
            parent[find(by_cred[old])] = find(by_cred[new])
    person_of: dict[int, int] = {}
    for rid_no, _, _, fields in rows:
        root = find(rid_no)
        if root not in person_of:
            person_of[root] = conn.execute(persons.insert().values(status="active", merged_into=None, created_at=now)
                                           .returning(persons.c.id)).scalar_one()
        pid = person_of[root]
        conn.execute(records.update().where(records.c.id == rid_no).values(person_id=pid))
        doc = json.loads(fields) if isinstance(fields, str) else fields
        for k in sorted(matching.keys(doc or {})):
            exists = conn.execute(sa.select(keys.c.key).where(keys.c.key == k, keys.c.person_id == pid)).first()
            if exists is None:
                conn.execute(keys.insert().values(key=k, person_id=pid))
    person_by_record = {bytes(rid): person_of[find(rno)] for rno, rid, _, _ in rows}
    taken: set[tuple[int, str, str]] = set()
    for pay_id, rid, programme, period in conn.execute(sa.select(payments.c.id, payments.c.record_id,
                                                                 payments.c.programme, payments.c.period)
                                                       .order_by(payments.c.id)).all():
        pid = person_by_record.get(bytes(rid))
        if pid is None:
            continue
        if (pid, programme, period) in taken:
            conn.execute(events.insert().values(at=now, kind="overpayment", device_id=None,
                                                detail=f"migration 0007: payment {pay_id} is person {pid}'s second "
                                                       f"in {programme} {period}"))
            continue
        taken.add((pid, programme, period))
        conn.execute(payments.update().where(payments.c.id == pay_id).values(person_id=pid))


def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint('fk_payments_person', type_='foreignkey')
        batch_op.drop_index('ix_payments_person_id')
        batch_op.drop_constraint('uq_payments_person_once', type_='unique')
        batch_op.create_unique_constraint('uq_payments_once', ['record_id', 'programme', 'period'])
        batch_op.drop_column('proof')
        batch_op.drop_column('person_id')
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_constraint('fk_records_person', type_='foreignkey')
        batch_op.drop_index('ix_records_person_id')
        batch_op.drop_constraint('uq_records_credential', type_='unique')
        batch_op.create_index('ix_records_credential', ['credential_id', 'device_id'], unique=False)
        batch_op.drop_column('person_id')
    op.drop_table('reviews')
    op.drop_table('match_keys')
    op.drop_index('ix_persons_merged_into', 'persons')
    op.drop_table('persons')
