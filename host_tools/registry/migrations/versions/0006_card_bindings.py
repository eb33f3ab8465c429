"""a record's card UID, and which credential a re-issue replaced

Revision ID: 0006
Revises: 0005
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('card_uid', sa.LargeBinary(length=10), nullable=True))
    with op.batch_alter_table('revoked_credentials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replaced_by', sa.String(length=16), nullable=True))
        batch_op.create_index('ix_revoked_credentials_replaced_by', ['replaced_by'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('revoked_credentials', schema=None) as batch_op:
        batch_op.drop_index('ix_revoked_credentials_replaced_by')
        batch_op.drop_column('replaced_by')
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_column('card_uid')
