"""records keep no sealed envelope (the PIN block inside it stayed recoverable with the RSA key)

Revision ID: 0008
Revises: 0007

The registry needs the record's digest (duplicate or conflict) and what it opened; the sealed bytes
held the enrolment PIN block, which anyone with the registry's RSA key could recover.  The data step
empties the column; the downgrade cannot bring the bytes back and leaves it empty.
"""

from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE records SET envelope = x''" if op.get_bind().dialect.name == "sqlite"
               else "UPDATE records SET envelope = ''::bytea")


def downgrade() -> None:
    pass  # the envelopes are gone for good, as intended
