"""The shared study's own PostgreSQL database (`optuna` on the stack's server), created on first use.

An in-stack PostgreSQL was initialised for MLflow only, and its volume outlives any init script that
came later, so the first worker that needs the database creates it, connected to MLflow's database
(MLOPS_OPTUNA_CREATE_FROM) as the same role. An external server's role needs CREATEDB for that, or
the database must exist beforehand; either way the error says which.

The URL carries no password: libpq reads PGPASSWORD (a secret env var on docker and kubernetes).
"""

from __future__ import annotations

import os

import psycopg2
from contract import ENV_OPTUNA_CREATE_FROM as CREATE_FROM_ENV
from psycopg2 import errors, sql
from sqlalchemy.engine import make_url


class DatabaseSetupError(Exception):
    """The queue's database does not exist and cannot be created."""


def _connect_kwargs(url: str) -> tuple[dict[str, object], str, str]:
    parsed = make_url(url)
    query = {k: v for k, v in parsed.query.items() if isinstance(v, str)}
    kwargs: dict[str, object] = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "connect_timeout": 10,
        **query,
    }
    where = f"{parsed.host}:{parsed.port or 5432}"
    return kwargs, parsed.database or "", where


def ensure_database(url: str, create_from: str | None = None) -> bool:
    """True when the database of a PostgreSQL `url` was created now; False when it existed (or the
    URL is not PostgreSQL). `create_from` (default env MLOPS_OPTUNA_CREATE_FROM, else `postgres`) is
    the database to connect to for CREATE DATABASE."""
    if not make_url(url).drivername.startswith("postgresql"):
        return False
    kwargs, name, where = _connect_kwargs(url)
    user = kwargs.get("user") or "(default role)"
    try:
        psycopg2.connect(dbname=name, **kwargs).close()
        return False
    except psycopg2.OperationalError as err:
        if "does not exist" not in str(err):
            raise DatabaseSetupError(f"cannot reach database {name!r} at {where} as {user}: {str(err).strip().splitlines()[0]}") from None
    maintenance = create_from or os.environ.get(CREATE_FROM_ENV, "").strip() or "postgres"
    try:
        conn = psycopg2.connect(dbname=maintenance, **kwargs)
    except psycopg2.OperationalError as err:
        raise DatabaseSetupError(
            f"database {name!r} does not exist at {where} and connecting to {maintenance!r} to create it failed: {str(err).strip().splitlines()[0]}"
        ) from None
    conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True
    except errors.DuplicateDatabase:
        return False  # another worker created it first
    except errors.InsufficientPrivilege:
        raise DatabaseSetupError(
            f"database {name!r} does not exist at {where} and role {user} may not create it: "
            f"grant it CREATEDB (ALTER ROLE {user} CREATEDB) or create it beforehand (CREATE DATABASE {name} OWNER {user})"
        ) from None
    finally:
        conn.close()
