"""Users, API keys and sessions in PostgreSQL (access/users.py), beside the journal, so several
gateway processes share one user store; SQLite installations keep ``users.sqlite``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The same tables as users.sqlite (access/users.py _SQLITE_SCHEMA); times are ns since the epoch.
    op.execute("""
        CREATE TABLE users (
            username TEXT PRIMARY KEY, display_name TEXT NOT NULL, roles TEXT NOT NULL, accounts TEXT NOT NULL,
            desks TEXT NOT NULL, password_hash TEXT, disabled INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL
        )
    """)
    op.execute("""
        CREATE TABLE api_keys (
            key_id TEXT PRIMARY KEY, username TEXT NOT NULL, name TEXT NOT NULL, secret_hash TEXT NOT NULL,
            created_at BIGINT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0
        )
    """)
    op.execute("""
        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY, username TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL
        )
    """)
    op.execute("""
        CREATE TABLE user_changes (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ts BIGINT NOT NULL, actor TEXT NOT NULL,
            action TEXT NOT NULL, username TEXT NOT NULL, detail TEXT NOT NULL
        )
    """)
    op.execute("""
        CREATE TABLE access_denials (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ts BIGINT NOT NULL, username TEXT NOT NULL,
            action TEXT NOT NULL, target TEXT NOT NULL
        )
    """)
    # What SQLite's ``PRAGMA data_version`` gives the SQLite store: a number that moves whenever any
    # process changes a user, key or session, so every gateway's cache of authenticated callers
    # notices a revocation made elsewhere. One row, bumped by a statement-level trigger.
    op.execute("CREATE TABLE users_version (n BIGINT NOT NULL)")
    op.execute("INSERT INTO users_version VALUES (0)")
    op.execute("""
        CREATE FUNCTION openoms_users_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE users_version SET n = n + 1;
            RETURN NULL;
        END
        $$
    """)
    for table in ("users", "api_keys", "sessions"):
        op.execute(f"""
            CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION openoms_users_changed()
        """)


def downgrade() -> None:
    for table in ("users", "api_keys", "sessions", "user_changes", "access_denials", "users_version"):
        op.execute(f"DROP TABLE {table}")
    op.execute("DROP FUNCTION openoms_users_changed()")
