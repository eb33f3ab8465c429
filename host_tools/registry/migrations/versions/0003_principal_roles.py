"""principal roles: an enrolment device or a payout point

Revision ID: 0003
Revises: 0002

Devices registered before this migration are enrolment devices.
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=16), server_default='enrolment', nullable=False))


def downgrade() -> None:
    # SQLite (3.35+) drops the column in place: a batch copy of devices would trip the records'
    # foreign key to it
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE devices DROP COLUMN role")
    else:
        op.drop_column('devices', 'role')
