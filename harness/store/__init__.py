"""The SQL store: SQLite (WAL) by default, any SQLAlchemy URL (PostgreSQL when shared)."""
