"""derived collection streams: downsampled from a finer running stream

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 05:45:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("collection_streams", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("aggregation", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("resume", sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f("ix_collection_streams_parent_id"), ["parent_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_collection_streams_parent_id", "collection_streams", ["parent_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("collection_streams", schema=None) as batch_op:
        batch_op.drop_constraint("fk_collection_streams_parent_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_collection_streams_parent_id"))
        batch_op.drop_column("resume")
        batch_op.drop_column("aggregation")
        batch_op.drop_column("parent_id")
