"""record schema 2: the record's schema version and the beneficiary category

Revision ID: 0002
Revises: 0001

Records stored before this migration are schema 1 (no category); their fields are kept as
they came.
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('schema', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('category', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_records_category'), ['category'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_records_category'))
        batch_op.drop_column('category')
        batch_op.drop_column('schema')
