"""Database access: engines for SQLite and PostgreSQL, and the Alembic migrations."""
