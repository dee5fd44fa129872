"""the stores' catalogue: categories, items, option groups and options

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 19:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import o2o.db


revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Store columns first: server defaults fill the rows that are already there.
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_radius_m', sa.Integer(), server_default='3000', nullable=False))
        batch_op.add_column(sa.Column('delivery_area', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('min_order', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('packaging_fee', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('delivery_base_fee', sa.Integer(), server_default='300', nullable=False))
        batch_op.add_column(sa.Column('delivery_base_m', sa.Integer(), server_default='3000', nullable=False))
        batch_op.add_column(sa.Column('delivery_fee_per_km', sa.Integer(), server_default='100', nullable=False))
        batch_op.add_column(sa.Column('accepting_orders', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('catalogue_version', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_check_constraint(
            op.f('ck_stores_delivery_terms'),
            'delivery_radius_m > 0 AND min_order >= 0 AND packaging_fee >= 0 AND delivery_base_fee >= 0 '
            'AND delivery_base_m >= 0 AND delivery_fee_per_km >= 0',
        )

    op.create_table('menu_categories',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('city_id', sa.Uuid(), nullable=False),
    sa.Column('store_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('available_windows', sa.Text(), nullable=True),
    sa.Column('archived', sa.Boolean(), nullable=False),
    sa.Column('created_at', o2o.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['city_id'], ['cities.id'], name=op.f('fk_menu_categories_city_id_cities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_menu_categories_store_id_stores'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_menu_categories'))
    )
    with op.batch_alter_table('menu_categories', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_menu_categories_city_id'), ['city_id'], unique=False)
        batch_op.create_index('ix_menu_categories_store_id_position', ['store_id', 'position'], unique=False)

    op.create_table('menu_items',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('city_id', sa.Uuid(), nullable=False),
    sa.Column('store_id', sa.Uuid(), nullable=False),
    sa.Column('category_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('price', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('available_windows', sa.Text(), nullable=True),
    sa.Column('sold_out', sa.Boolean(), nullable=False),
    sa.Column('archived', sa.Boolean(), nullable=False),
    sa.Column('image', sa.String(length=16), nullable=True),
    sa.Column('updated_at', o2o.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', o2o.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('price >= 0', name=op.f('ck_menu_items_price_non_negative')),
    sa.ForeignKeyConstraint(['category_id'], ['menu_categories.id'], name=op.f('fk_menu_items_category_id_menu_categories'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['city_id'], ['cities.id'], name=op.f('fk_menu_items_city_id_cities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_menu_items_store_id_stores'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_menu_items'))
    )
    with op.batch_alter_table('menu_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_menu_items_category_id'), ['category_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_menu_items_city_id'), ['city_id'], unique=False)
        batch_op.create_index('ix_menu_items_store_id_position', ['store_id', 'position'], unique=False)

    op.create_table('menu_option_groups',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('city_id', sa.Uuid(), nullable=False),
    sa.Column('item_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('min_picks', sa.Integer(), nullable=False),
    sa.Column('max_picks', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.CheckConstraint('max_picks >= min_picks AND max_picks >= 1', name=op.f('ck_menu_option_groups_max_picks')),
    sa.CheckConstraint('min_picks >= 0', name=op.f('ck_menu_option_groups_min_picks')),
    sa.ForeignKeyConstraint(['city_id'], ['cities.id'], name=op.f('fk_menu_option_groups_city_id_cities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['item_id'], ['menu_items.id'], name=op.f('fk_menu_option_groups_item_id_menu_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_menu_option_groups'))
    )
    with op.batch_alter_table('menu_option_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_menu_option_groups_city_id'), ['city_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_menu_option_groups_item_id'), ['item_id'], unique=False)

    op.create_table('menu_options',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('city_id', sa.Uuid(), nullable=False),
    sa.Column('group_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('price_delta', sa.Integer(), nullable=False),
    sa.Column('sold_out', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['city_id'], ['cities.id'], name=op.f('fk_menu_options_city_id_cities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['menu_option_groups.id'], name=op.f('fk_menu_options_group_id_menu_option_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_menu_options'))
    )
    with op.batch_alter_table('menu_options', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_menu_options_city_id'), ['city_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_menu_options_group_id'), ['group_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('menu_options', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_menu_options_group_id'))
        batch_op.drop_index(batch_op.f('ix_menu_options_city_id'))

    op.drop_table('menu_options')
    with op.batch_alter_table('menu_option_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_menu_option_groups_item_id'))
        batch_op.drop_index(batch_op.f('ix_menu_option_groups_city_id'))

    op.drop_table('menu_option_groups')
    with op.batch_alter_table('menu_items', schema=None) as batch_op:
        batch_op.drop_index('ix_menu_items_store_id_position')
        batch_op.drop_index(batch_op.f('ix_menu_items_city_id'))
        batch_op.drop_index(batch_op.f('ix_menu_items_category_id'))

    op.drop_table('menu_items')
    with op.batch_alter_table('menu_categories', schema=None) as batch_op:
        batch_op.drop_index('ix_menu_categories_store_id_position')
        batch_op.drop_index(batch_op.f('ix_menu_categories_city_id'))

    op.drop_table('menu_categories')
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_stores_delivery_terms'), type_='check')
        batch_op.drop_column('catalogue_version')
        batch_op.drop_column('accepting_orders')
        batch_op.drop_column('delivery_fee_per_km')
        batch_op.drop_column('delivery_base_m')
        batch_op.drop_column('delivery_base_fee')
        batch_op.drop_column('packaging_fee')
        batch_op.drop_column('min_order')
        batch_op.drop_column('delivery_area')
        batch_op.drop_column('delivery_radius_m')
