"""A private PostgreSQL cluster for tests: initdb + pg_ctl in a temp dir, on a unix socket only
(no TCP), as Debian's postgres user when run as root (initdb refuses root). Debian's
postgresql package is in the Makefile's SYSPKGS."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.requires import require

PG_PORT = 5433  # names the socket file in the cluster's own dir; nothing listens on TCP


def pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(d) / name).exists():
            return str(Path(d) / name)
    return None


def require_postgres() -> None:
    """Skip without PostgreSQL's server binaries; fail under make test (tests/requires.py)."""
    require(
        bool(pg_bin("initdb") and pg_bin("pg_ctl")),
        "PostgreSQL server binaries initdb, pg_ctl (Debian's postgresql: `make sysdeps`)",
    )


@contextmanager
def private_postgres() -> Iterator[str]:
    """Start a throwaway cluster; yields its SQLAlchemy URL (database `postgres`)."""
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl): `make sysdeps`")
    base = Path(tempfile.mkdtemp(prefix="lanprobe-pg-"))
    user = None
    if os.geteuid() == 0:  # initdb refuses to run as root: Debian's postgres user, else nobody
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pw = pwd.getpwnam("nobody")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        user = pw.pw_name
    data = base / "data"
    env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "LANG": "C"}

    def run(*args: str) -> None:
        subprocess.run(
            args, user=user, cwd=base, env=env, check=True, capture_output=True, timeout=120
        )

    try:
        run(initdb, "-D", str(data), "-U", "lanprobe", "--auth=trust", "--no-sync", "-E", "UTF8")
        opts = f"-k {base} -c listen_addresses='' -p {PG_PORT} -c fsync=off"
        run(pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "-t", "60", "start")
    except subprocess.CalledProcessError as exc:
        log = (base / "log").read_text() if (base / "log").exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"postgres did not start: {exc.stderr!r} {log}") from exc
    try:
        yield f"postgresql://lanprobe@/postgres?host={base}&port={PG_PORT}"
    finally:
        subprocess.run(
            [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
            user=user,
            cwd=base,
            env=env,
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


def socket_dir(url: str) -> str:
    return url.split("host=")[1].split("&")[0]


def fresh_database(url: str, name: str) -> str:
    """Create (or re-create) database `name` in the cluster of `url`; returns its URL."""
    import psycopg

    with psycopg.connect(
        host=socket_dir(url), port=PG_PORT, user="lanprobe", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.replace("/postgres?", f"/{name}?")
