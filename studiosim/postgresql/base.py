"""Django's PostgreSQL backend whose connections never wait for ever.

libpq bounds the connection itself (``connect_timeout``) and the server bounds a
statement it is running (``statement_timeout``), but nothing bounds waiting on a
connection that is open and silent: a server that has hung, or a network that
drops every packet after the connection was made. psycopg then waits until
gunicorn kills the worker. :class:`BoundedConnection` gives each of those waits
a deadline (``read_timeout`` in the database's ``OPTIONS``, seconds), after which
the connection is closed (its protocol state is unknown) and an
``OperationalError`` raised, which the API answers with 503.

Used as ``ENGINE: "studiosim.postgresql"`` (``studiosim.settings`` does so for
every ``postgres://`` DATABASE_URL); the pooled mode (``OPTIONS["pool"]``) is
not supported.
"""

import types
from typing import Any

import psycopg
from django.db.backends.postgresql import base
from psycopg import errors

__all__ = ["BoundedConnection", "DatabaseWrapper"]


class BoundedConnection(psycopg.Connection):
    """A psycopg connection whose every wait for the server has a deadline."""

    #: Seconds; None waits as long as the server takes.
    read_timeout: float | None = None

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None):
        if timeout is None:
            timeout = self.read_timeout
        try:
            return super().wait(gen, interval=interval, timeout=timeout)
        except errors._WaitTimeout:
            # The reply may still come, half-read; nothing can use this
            # connection after that.
            self.close()
            raise errors.ConnectionTimeout(
                f"the database did not answer within {timeout:g} s"
            ) from None


class _Psycopg(types.ModuleType):
    """psycopg as the backend sees it, connecting with :class:`BoundedConnection`."""

    def __getattr__(self, name: str) -> Any:
        return getattr(psycopg, name)


_psycopg = _Psycopg("psycopg")
_psycopg.connect = BoundedConnection.connect


class DatabaseWrapper(base.DatabaseWrapper):
    Database = _psycopg

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        params.pop("read_timeout", None)
        return params

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        connection.read_timeout = self.settings_dict["OPTIONS"].get("read_timeout")
        return connection
