"""The journal: one row per event, hash-chained, append-only.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The same row as SQLite's: the payload carries the event (msgpack), ``hash`` chains it to the
    # row before. No secondary index: the engine keeps each order's seqs and reads by primary key.
    op.execute("""
        CREATE TABLE events (
            seq     BIGINT PRIMARY KEY,
            ts      BIGINT NOT NULL,
            payload BYTEA  NOT NULL,
            hash    BYTEA  NOT NULL CHECK (octet_length(hash) = 32)
        )
    """)
    # Append-only at the database too: an UPDATE, DELETE or TRUNCATE is refused outright (the
    # hash chain would name the edit anyway; this stops an accident before it happens). A
    # statement-level trigger costs nothing on INSERT.
    op.execute("""
        CREATE FUNCTION openoms_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the OpenOMS journal is append-only: % on events refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
    """)
    op.execute("""
        CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON events
        FOR EACH STATEMENT EXECUTE FUNCTION openoms_events_append_only()
    """)


def downgrade() -> None:
    op.execute("DROP TABLE events")
    op.execute("DROP FUNCTION openoms_events_append_only()")
