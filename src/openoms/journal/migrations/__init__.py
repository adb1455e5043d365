"""Alembic migrations of the PostgreSQL journal schema (SQLite keeps its embedded schema).

``openoms.journal.postgres.upgrade(url)`` runs them (the journal does on open); the Alembic
command line works too: ``alembic -c src/openoms/journal/migrations/alembic.ini upgrade head``
with ``OMS_DATABASE_URL`` set.
"""
