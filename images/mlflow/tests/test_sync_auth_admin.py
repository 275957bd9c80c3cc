"""The entrypoint's admin sync (sync_auth_admin.py) on real SQLite users databases made by MLflow's own
auth store: a rotated password points at a new file name, the previous file is moved there with its
users, and the admin takes the new password and refuses the old. The docker rotation e2e test
(test/e2e/dockerRotation.test.ts) runs it inside the mlflow image."""

from __future__ import annotations

import os
from pathlib import Path

import sync_auth_admin
from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore


def write_ini(path: Path, database: Path, password: str) -> Path:
    # '%' doubled as components/shared/mlflowAuth.ts writes it (configparser interpolation).
    escaped = password.replace("%", "%%")
    path.write_text(f"[mlflow]\ndatabase_uri = sqlite:///{database}\nadmin_username = admin\nadmin_password = {escaped}\n")
    return path


def store_at(database: Path) -> SqlAlchemyStore:
    store = SqlAlchemyStore()
    store.init_db(f"sqlite:///{database}")
    return store


def test_rotated_admin_password_keeps_the_users(tmp_path: Path) -> None:
    old_file, new_file, older_file = tmp_path / "basic_auth-old.db", tmp_path / "basic_auth-new.db", tmp_path / "basic_auth-older.db"
    older_file.write_bytes(b"")
    old = store_at(old_file)
    old.create_user("admin", "old-password-0123456789", is_admin=True)
    old.create_user("mlops-training", "training-password-01234")
    old.engine.dispose()
    # The newest file is the one in use: make the stale one older.
    os.utime(older_file, (1, 1))

    assert sync_auth_admin.main(str(write_ini(tmp_path / "a.ini", new_file, "new%password-0123456789"))) == 0

    assert not old_file.exists() and not older_file.exists() and new_file.exists()
    store = store_at(new_file)
    assert store.authenticate_user("admin", "new%password-0123456789")
    assert not store.authenticate_user("admin", "old-password-0123456789")
    assert store.authenticate_user("mlops-training", "training-password-01234")


def test_matching_password_and_new_database_change_nothing(tmp_path: Path) -> None:
    database = tmp_path / "basic_auth-x.db"
    assert sync_auth_admin.main(str(write_ini(tmp_path / "a.ini", database, "first-password-0123456789"))) == 0
    # A fresh database has no admin yet: MLflow creates it when it starts.
    assert not store_at(database).has_user("admin")
    store = store_at(database)
    store.create_user("admin", "first-password-0123456789", is_admin=True)
    before = store.get_user("admin").password_hash
    assert sync_auth_admin.main(str(write_ini(tmp_path / "a.ini", database, "first-password-0123456789"))) == 0
    assert store_at(database).get_user("admin").password_hash == before
