"""PostgreSQL access: a pool opened in a service's lifespan, and numbered migrations."""

from shared.db.migrate import Migration, apply_migrations, load_migrations
from shared.db.pool import SERVER_SETTINGS, Connection, create_pool
from shared.db.recordset import columns, recordset
from shared.db.statements import filter_mask, filtered_statements

__all__ = [
    "SERVER_SETTINGS",
    "Connection",
    "Migration",
    "apply_migrations",
    "columns",
    "create_pool",
    "filter_mask",
    "filtered_statements",
    "load_migrations",
    "recordset",
]
