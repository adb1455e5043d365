"""Alembic environment: runs the migrations on a connection OpenOMS hands over
(``config.attributes["connection"]``), or on ``OMS_DATABASE_URL`` from the Alembic command line.

Migrations are plain SQL (``op.execute``): there are no SQLAlchemy models to autogenerate from.
"""

from __future__ import annotations

import os

import psycopg
import sqlalchemy as sa
from alembic import context
from sqlalchemy.pool import NullPool

# Two OpenOMS processes opening a new database at once would both try to create the tables:
# this transaction-scoped lock makes the second wait and then find the schema at head.
MIGRATION_LOCK = 0x4F4D5301


def run(connection: sa.Connection) -> None:
    context.configure(connection=connection, transactional_ddl=True)
    with context.begin_transaction():
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    url = os.environ.get("OMS_DATABASE_URL", "")
    if not url:
        raise SystemExit("set OMS_DATABASE_URL=postgresql://... to run the migrations from the command line")
    engine = sa.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(url), poolclass=NullPool)
    with engine.connect() as own:
        run(own)
