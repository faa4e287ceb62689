"""patrol visits: who passed which checkpoint when

Revision ID: dcba74795e45
Revises: e776b1c024d0
Create Date: 2026-11-29 16:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import patrol.alarms.coltypes


revision: str = 'dcba74795e45'
down_revision: str | None = 'e776b1c024d0'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('patrol_visits',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', patrol.alarms.coltypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('checkpoint', sa.String(length=64), nullable=False),
    sa.Column('waypoint', sa.String(length=64), nullable=False),
    sa.Column('robot_id', sa.String(length=64), nullable=False),
    sa.Column('interval_s', sa.Float(), nullable=True),
    sa.Column('plan_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patrol_visits'))
    )
    op.create_index('ix_patrol_visits_at', 'patrol_visits', ['at'], unique=False)
    op.create_index('ix_patrol_visits_checkpoint_at', 'patrol_visits', ['checkpoint', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_patrol_visits_checkpoint_at', table_name='patrol_visits')
    op.drop_index('ix_patrol_visits_at', table_name='patrol_visits')
    op.drop_table('patrol_visits')
