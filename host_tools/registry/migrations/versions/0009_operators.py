"""named operators, their tokens, proposals (dual control), a hash-chained event trail

Revision ID: 0009
Revises: 0008

Devices registered before this revision were registered under the one shared token and are kept
active (the data step); a device registered from now on waits for a second registrar.  Events
written before it are chained in the order they were written (events.chain_existing).
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.orm import Session


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('operators',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('totp_secret', sa.LargeBinary(length=80), nullable=True),
    sa.Column('roles', sa.String(length=64), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('must_change', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name', name='uq_operators_name')
    )
    op.create_table('operator_tokens',
    sa.Column('token_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('operator_id', _ID, nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['operator_id'], ['operators.id'], name='fk_operator_tokens_operator'),
    sa.PrimaryKeyConstraint('token_hash')
    )
    op.create_index('ix_operator_tokens_operator_id', 'operator_tokens', ['operator_id'])
    op.create_table('proposals',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('proposed_by', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.String(length=32), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_proposals_subject', 'proposals', ['subject'])
    op.create_index('ix_proposals_status', 'proposals', ['status'])
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(sa.text("UPDATE devices SET active = :t").bindparams(t=True))
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('proposal_id', _ID, nullable=True))
        batch_op.create_index('ix_records_proposal_id', ['proposal_id'], unique=False)
        batch_op.create_foreign_key('fk_records_proposal', 'proposals', ['proposal_id'], ['id'])
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('operator', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('role', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('reason', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('seq', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.LargeBinary(length=32), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.LargeBinary(length=32), nullable=True))
        batch_op.create_unique_constraint('uq_events_seq', ['seq'])

    from host_tools.registry.events import chain_existing

    s = Session(bind=op.get_bind())
    chain_existing(s)
    s.flush()


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_constraint('uq_events_seq', type_='unique')
        for col in ('hash', 'prev_hash', 'seq', 'reason', 'role', 'operator'):
            batch_op.drop_column(col)
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_constraint('fk_records_proposal', type_='foreignkey')
        batch_op.drop_index('ix_records_proposal_id')
        batch_op.drop_column('proposal_id')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_column('active')
    op.drop_index('ix_proposals_status', table_name='proposals')
    op.drop_index('ix_proposals_subject', table_name='proposals')
    op.drop_table('proposals')
    op.drop_index('ix_operator_tokens_operator_id', table_name='operator_tokens')
    op.drop_table('operator_tokens')
    op.drop_table('operators')
