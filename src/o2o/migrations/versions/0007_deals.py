"""group-buy deals and their vouchers

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 19:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import o2o.db


revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('deals',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('city_id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('store_id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.String(length=80), nullable=False),
    sa.Column('lines', sa.Text(), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('original_price', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('quantity_total', sa.Integer(), nullable=True),
    sa.Column('quantity_sold', sa.Integer(), nullable=False),
    sa.Column('per_person_limit', sa.Integer(), nullable=True),
    sa.Column('sale_starts_at', o2o.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sale_ends_at', o2o.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('valid_from', o2o.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('valid_until', o2o.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('usable_weekdays', sa.Integer(), nullable=False),
    sa.Column('usable_start_minute', sa.Integer(), nullable=True),
    sa.Column('usable_end_minute', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('published_at', o2o.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_at', o2o.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', o2o.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', o2o.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('original_price >= price', name=op.f('ck_deals_original_price_at_least_price')),
    sa.CheckConstraint('price > 0', name=op.f('ck_deals_price_positive')),
    sa.CheckConstraint('quantity_sold >= 0', name=op.f('ck_deals_quantity_sold_non_negative')),
    sa.CheckConstraint('quantity_total IS NULL OR quantity_sold <= quantity_total', name=op.f('ck_deals_not_oversold')),
    sa.CheckConstraint('usable_weekdays > 0 AND usable_weekdays <= 127', name=op.f('ck_deals_usable_weekdays')),
    sa.ForeignKeyConstraint(['city_id'], ['cities.id'], name=op.f('fk_deals_city_id_cities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['people.id'], name=op.f('fk_deals_created_by_people'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_deals_merchant_id_merchants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_deals_store_id_stores'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deals'))
    )
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deals_city_id'), ['city_id'], unique=False)
        batch_op.create_index('ix_deals_city_listing', ['city_id', 'status', 'sale_ends_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_deals_merchant_id'), ['merchant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deals_store_id'), ['store_id'], unique=False)

    op.create_table('deal_stores',
    sa.Column('deal_id', sa.Uuid(), nullable=False),
    sa.Column('store_id', sa.Uuid(), nullable=False),
    sa.Column('city_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['city_id'], ['cities.id'], name=op.f('fk_deal_stores_city_id_cities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_deal_stores_deal_id_deals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_deal_stores_store_id_stores'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('deal_id', 'store_id', name=op.f('pk_deal_stores'))
    )
    with op.batch_alter_table('deal_stores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deal_stores_city_id'), ['city_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deal_stores_store_id'), ['store_id'], unique=False)

    op.create_table('vouchers',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('city_id', sa.Uuid(), nullable=False),
    sa.Column('deal_id', sa.Uuid(), nullable=False),
    sa.Column('store_id', sa.Uuid(), nullable=False),
    sa.Column('owner_person_id', sa.Uuid(), nullable=False),
    sa.Column('intent_id', sa.Uuid(), nullable=True),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('limit_slot', sa.Integer(), nullable=True),
    sa.Column('valid_from', o2o.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('valid_until', o2o.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('issued_at', o2o.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('redeemed_at', o2o.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('redeemed_store_id', sa.Uuid(), nullable=True),
    sa.Column('redeemed_by', sa.Uuid(), nullable=True),
    sa.Column('settled_at', o2o.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('refunded_at', o2o.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('refund_reason', sa.String(length=12), nullable=True),
    sa.Column('canceled_at', o2o.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', o2o.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', o2o.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('price > 0', name=op.f('ck_vouchers_price_positive')),
    sa.ForeignKeyConstraint(['city_id'], ['cities.id'], name=op.f('fk_vouchers_city_id_cities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_vouchers_deal_id_deals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['intent_id'], ['wallet_payment_intents.id'], name=op.f('fk_vouchers_intent_id_wallet_payment_intents')),
    sa.ForeignKeyConstraint(['owner_person_id'], ['people.id'], name=op.f('fk_vouchers_owner_person_id_people')),
    sa.ForeignKeyConstraint(['redeemed_by'], ['people.id'], name=op.f('fk_vouchers_redeemed_by_people'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['redeemed_store_id'], ['stores.id'], name=op.f('fk_vouchers_redeemed_store_id_stores'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_vouchers_store_id_stores'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vouchers')),
    sa.UniqueConstraint('code', name=op.f('uq_vouchers_code')),
    sa.UniqueConstraint('deal_id', 'owner_person_id', 'limit_slot', name=op.f('uq_vouchers_deal_id_owner_person_id_limit_slot')),
    sa.UniqueConstraint('intent_id', name=op.f('uq_vouchers_intent_id'))
    )
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vouchers_city_id'), ['city_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_vouchers_deal_id'), ['deal_id'], unique=False)
        batch_op.create_index('ix_vouchers_due_expiry', ['status', 'valid_until'], unique=False)
        batch_op.create_index('ix_vouchers_due_settlement', ['status', 'settled_at', 'redeemed_at'], unique=False)
        batch_op.create_index('ix_vouchers_owner', ['owner_person_id', 'id'], unique=False)
        batch_op.create_index('ix_vouchers_redemptions', ['redeemed_store_id', 'redeemed_at'], unique=False)
        batch_op.create_index('ix_vouchers_sales', ['store_id', 'issued_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.drop_index('ix_vouchers_sales')
        batch_op.drop_index('ix_vouchers_redemptions')
        batch_op.drop_index('ix_vouchers_owner')
        batch_op.drop_index('ix_vouchers_due_settlement')
        batch_op.drop_index('ix_vouchers_due_expiry')
        batch_op.drop_index(batch_op.f('ix_vouchers_deal_id'))
        batch_op.drop_index(batch_op.f('ix_vouchers_city_id'))

    op.drop_table('vouchers')
    with op.batch_alter_table('deal_stores', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deal_stores_store_id'))
        batch_op.drop_index(batch_op.f('ix_deal_stores_city_id'))

    op.drop_table('deal_stores')
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deals_store_id'))
        batch_op.drop_index(batch_op.f('ix_deals_merchant_id'))
        batch_op.drop_index('ix_deals_city_listing')
        batch_op.drop_index(batch_op.f('ix_deals_city_id'))

    op.drop_table('deals')
