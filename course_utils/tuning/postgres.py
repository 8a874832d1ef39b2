"""A throwaway PostgreSQL server in a temporary folder: to try a many-worker study on one machine, and for the tests.

    with throwaway_postgres() as url:        # postgresql+psycopg://course@/optuna?host=/tmp/cu-pg-xxxx&port=...
        python -m course_utils.tuning worker --storage URL ...

It uses the server programs of an installed PostgreSQL (Debian/Ubuntu: ``apt install postgresql``; they live in
/usr/lib/postgresql/VERSION/bin): ``initdb`` makes a cluster in a temporary folder, ``pg_ctl`` starts it listening on a
unix socket in that folder only (no TCP port, so nothing outside this machine can connect), a database is created,
and at the end the server is stopped and the folder deleted. PostgreSQL refuses to run as root: under root the server
runs as the ``postgres`` user the Debian package creates. On a real cluster, point the workers at your database
server instead.
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server programs on this machine (or they could not start a server)."""


def server_program(name: str) -> str:
    """The path of a PostgreSQL server program (initdb, pg_ctl): on PATH or in /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if candidates:
        return candidates[-1]
    raise PostgresUnavailable(f"PostgreSQL's {name} was not found (on PATH or in /usr/lib/postgresql/*/bin). Install "
                              f"the server: sudo apt-get install postgresql (Debian/Ubuntu), brew install postgresql "
                              f"(macOS), or conda install -c conda-forge postgresql.")


def _run(cmd, user):
    result = subprocess.run(cmd, user=user, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise PostgresUnavailable(f"{' '.join(map(str, cmd))} failed ({result.returncode}): "
                                  f"{(result.stderr or result.stdout).strip()[-800:]}")
    return result


@contextlib.contextmanager
def throwaway_postgres(database: str = "optuna", user: str = "course"):
    """Start a private PostgreSQL server; yield its SQLAlchemy URL (psycopg 3 driver); stop and delete it afterwards."""
    initdb, pg_ctl = server_program("initdb"), server_program("pg_ctl")
    run_as = None
    if os.geteuid() == 0:  # initdb and postgres refuse root
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError as err:
            raise PostgresUnavailable("Running as root, PostgreSQL needs an unprivileged user to run the server as; "
                                      "the 'postgres' user (created by Debian's postgresql package) does not exist.") from err
        run_as = "postgres"
    root = tempfile.mkdtemp(prefix="cu-pg-", dir="/tmp")  # short: a unix socket path has at most 107 bytes
    data = os.path.join(root, "data")
    try:
        if run_as:
            shutil.chown(root, user=run_as)
        os.chmod(root, 0o700)
        _run([initdb, "-D", data, "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync"], run_as)
        # no TCP at all (listen_addresses ''): the socket in the private folder is the only way in; fsync off (throwaway)
        options = f"-c listen_addresses='' -k {root} -c fsync=off -c max_connections=50"
        _run([pg_ctl, "-D", data, "-o", options, "-l", os.path.join(root, "server.log"), "-w", "-t", "60", "start"], run_as)
        try:
            _run([server_program("psql"), "-h", root, "-U", user, "-d", "postgres", "-c", f'CREATE DATABASE "{database}"'], run_as)
            yield f"postgresql+psycopg://{user}@/{database}?host={root}"
        finally:
            subprocess.run([pg_ctl, "-D", data, "-m", "fast", "-w", "stop"], user=run_as, capture_output=True, timeout=120)
    finally:
        shutil.rmtree(root, ignore_errors=True)
