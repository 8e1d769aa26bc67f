"""Turning the monthly metrics table into a TimescaleDB hypertable where possible.

TimescaleDB only pays off on PostgreSQL with the extension installed; everywhere
else (SQLite, plain PostgreSQL) the table stays an ordinary table and the
migration says so. Kept out of the migration file so it can be tested directly.
"""

import logging

from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

METRICS_TABLE = "studios_monthlymetric"


def timescaledb_available(connection: BaseDatabaseWrapper) -> bool:
    """Whether the database can create the ``timescaledb`` extension."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
        )
        return cursor.fetchone() is not None


def make_metrics_hypertable(connection: BaseDatabaseWrapper) -> bool:
    """Convert the metrics table to a hypertable on ``month_year``; a no-op otherwise.

    A hypertable needs the time column in every unique index, so the surrogate
    primary key is widened to ``(id, month_year)`` first. Returns whether the
    conversion happened.
    """
    if not timescaledb_available(connection):
        logger.info(
            "TimescaleDB is not available on this database (%s): %s stays a "
            "plain table.",
            connection.vendor,
            METRICS_TABLE,
        )
        return False
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        cursor.execute(
            f"ALTER TABLE {METRICS_TABLE} DROP CONSTRAINT {METRICS_TABLE}_pkey"
        )
        cursor.execute(f"ALTER TABLE {METRICS_TABLE} ADD PRIMARY KEY (id, month_year)")
        cursor.execute(
            "SELECT create_hypertable(%s, 'month_year', migrate_data => true, "
            "if_not_exists => true)",
            [METRICS_TABLE],
        )
    logger.info("%s is now a TimescaleDB hypertable on month_year.", METRICS_TABLE)
    return True
