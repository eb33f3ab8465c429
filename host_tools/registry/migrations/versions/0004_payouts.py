"""payout programmes and payments (exactly once per person, programme and period)

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('programmes',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('amounts', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('payments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('record_id', sa.LargeBinary(length=16), nullable=False),
    sa.Column('programme', sa.String(length=32), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('payout_point', sa.String(length=32), nullable=False),
    sa.Column('receipt', sa.String(length=16), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['payout_point'], ['devices.device_id'], ),
    sa.ForeignKeyConstraint(['programme'], ['programmes.code'], ),
    sa.ForeignKeyConstraint(['record_id'], ['records.record_id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('receipt'),
    sa.UniqueConstraint('record_id', 'programme', 'period', name='uq_payments_once')
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index('ix_payments_programme_period', ['programme', 'period'], unique=False)


def downgrade() -> None:
    op.drop_table('payments')
    op.drop_table('programmes')
