"""Before MLflow starts with basic auth: its users database takes the admin password of the config.

MLflow writes `admin_password` into the users database only when it creates the admin, so after a
rotation the database would keep the old password: the new one refused, the old one still taken. This
sets the admin's password from the config at every start (a no-op when it already matches).

The docker platform names the SQLite file after the admin password (components/shared/mlflowAuth.ts),
so a rotated password points at a file that does not exist yet: the previous file (the newest
`basic_auth*.db` beside it) is moved there first, keeping every user and permission. Older files left
beside it hold old password hashes only and are removed.

Usage: python sync_auth_admin.py <basic_auth.ini>
"""

import configparser
import glob
import os
import sys

from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

SQLITE_PREFIX = "sqlite:///"


def adopt_previous_file(database_file: str) -> str | None:
    """Moves the newest other users database in the directory to `database_file`; returns what it moved."""
    if os.path.exists(database_file):
        return None
    pattern = os.path.join(os.path.dirname(database_file), "basic_auth*.db")
    previous = sorted(glob.glob(pattern), key=os.path.getmtime)
    if not previous:
        return None
    os.replace(previous[-1], database_file)
    for stale in previous[:-1]:
        os.remove(stale)
    return previous[-1]


def main(config_path: str) -> int:
    parser = configparser.ConfigParser()
    if not parser.read(config_path) or not parser.has_section("mlflow"):
        print(f"sync_auth_admin: {config_path} has no [mlflow] section", file=sys.stderr)
        return 2
    section = parser["mlflow"]
    uri, admin, password = section["database_uri"], section["admin_username"], section["admin_password"]
    if uri.startswith(SQLITE_PREFIX):
        moved = adopt_previous_file(uri[len(SQLITE_PREFIX) :])
        if moved:
            print(f"sync_auth_admin: kept the users of {os.path.basename(moved)} (admin password rotated)", flush=True)
    store = SqlAlchemyStore()
    store.init_db(uri)
    # A new database: MLflow creates the admin itself with this password when it starts.
    if store.has_user(admin) and not store.authenticate_user(admin, password):
        store.update_user(admin, password=password)
        print(f"sync_auth_admin: set the password of MLflow admin {admin} from the config", flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python sync_auth_admin.py <basic_auth.ini>", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
