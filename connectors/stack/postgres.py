"""PostgreSQL 15 from Debian packages, in a cluster of the project's own.

The cluster lives in ``<data_dir>/postgres`` (created by ``initdb``), listens on 127.0.0.1 only,
on the port of ``BRRR_POSTGRES_URL``, with its unix socket inside the data folder rather than
``/var/run/postgresql``. PostgreSQL refuses to run as root, so as root the cluster belongs to
the ``postgres`` OS user. The role and database of the URL are created once it answers.
``pg_partman`` (Debian ``postgresql-15-partman``) is installed so that migrations can
``CREATE EXTENSION pg_partman``; TimescaleDB is not available from Debian.

The Debian package may create a system cluster on port 5432; it is left alone and not used.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

from connectors.stack._install import apt_install
from connectors.stack._process import StackError, as_user, start_detached
from connectors.stack._service import Service

PG_MAJOR = 15
PG_BIN = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")
PARTMAN_CONTROL = Path(f"/usr/share/postgresql/{PG_MAJOR}/extension/pg_partman.control")
# Throwaway development data: durability traded for speed (tests write many small rows).
DEV_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "128MB",
    "log_min_messages": "warning",
}


class Postgres(Service):
    """The project's own PostgreSQL 15 cluster."""

    name = "postgres"
    exe_names = ("postgres",)
    start_timeout_s = 60.0
    # SIGINT is PostgreSQL's "fast" shutdown (SIGTERM waits for every client to leave).
    stop_signal = signal.SIGINT
    port_setting = "BRRR_POSTGRES_URL"

    @property
    def port(self) -> int:
        return self.settings.postgres_port

    @property
    def address(self) -> str:
        url = urlsplit(self.settings.postgres_url)
        return f"{url.hostname}:{self.port}"

    @property
    def pgdata(self) -> Path:
        return self.settings.data_dir / "postgres"

    @property
    def os_user(self) -> str | None:
        """The OS user that runs the cluster: ``postgres`` as root, else the current user."""
        return "postgres" if os.geteuid() == 0 else None

    def install(self) -> None:
        if (PG_BIN / "postgres").exists() and PARTMAN_CONTROL.exists():
            return
        apt_install([f"postgresql-{PG_MAJOR}", f"postgresql-{PG_MAJOR}-partman"])

    def version(self) -> str:
        try:
            out = subprocess.run(
                [str(PG_BIN / "postgres"), "--version"], capture_output=True, text=True
            ).stdout
        except OSError:
            return "?"
        # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
        tokens = out.split()
        return "PostgreSQL " + tokens[2] if len(tokens) > 2 else "?"

    def start(self) -> int:
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        argv = [
            str(PG_BIN / "postgres"),
            "-D",
            str(self.pgdata),
            "-p",
            str(self.port),
            "-k",
            str(self.pgdata),
            "-c",
            "listen_addresses=127.0.0.1",
        ]
        for key, value in DEV_SETTINGS.items():
            argv += ["-c", f"{key}={value}"]
        return start_detached(
            argv,
            log_file=self.log_file,
            pid_file=self.pid_file,
            cwd=self.pgdata,
            env=self._env(),
            user=self.os_user,
        )

    def check(self) -> None:
        import psycopg

        with psycopg.connect(self.settings.postgres_url, connect_timeout=2) as conn:
            conn.execute("SELECT 1").fetchone()

    def check_started(self) -> None:
        """``SELECT 1`` as the cluster's superuser over the socket (the URL's role may not
        exist yet on a new cluster)."""
        with self._superuser(connect_timeout=2) as conn:
            conn.execute("SELECT 1").fetchone()

    def _superuser(self, connect_timeout: int = 5):  # -> psycopg.Connection
        import psycopg

        return psycopg.connect(
            host=str(self.pgdata), port=self.port, user="postgres", dbname="postgres",
            autocommit=True, connect_timeout=connect_timeout,
        )  # fmt: skip

    def after_ready(self) -> None:
        """Create the URL's role and database (as the cluster's superuser, over the socket).

        The role is a superuser of this throwaway development cluster: ``CREATE EXTENSION
        pg_partman`` (not a trusted extension) then works from the project's own migrations,
        as it does for the superuser that the TimescaleDB image creates in docker-compose.
        """
        from psycopg import sql

        url = urlsplit(self.settings.postgres_url)
        role = unquote(url.username or "brrr")
        password = unquote(url.password or "")
        dbname = unquote(url.path.lstrip("/") or role)
        with self._superuser() as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL(verb + " ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
            has_db = "SELECT 1 FROM pg_database WHERE datname = %s"
            if not conn.execute(has_db, (dbname,)).fetchone():
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(dbname), sql.Identifier(role)
                    )
                )
            available = conn.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_partman'"
            ).fetchone()
        if not available:
            raise StackError(
                "postgres: the pg_partman extension is not available to the cluster. "
                f"Try: apt-get install -y postgresql-{PG_MAJOR}-partman"
            )

    # -- helpers ----------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": ""}
        if self.os_user:
            env["HOME"] = pwd.getpwnam(self.os_user).pw_dir
        return env

    def _initdb(self) -> None:
        print(f"  postgres: creating a new cluster in {self.pgdata}", flush=True)
        shutil.rmtree(self.pgdata, ignore_errors=True)
        self.pgdata.mkdir(parents=True, mode=0o700)
        if self.os_user:
            entry = pwd.getpwnam(self.os_user)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
            _let_user_traverse(self.pgdata, entry.pw_uid)
        argv = [
            str(PG_BIN / "initdb"),
            "-D",
            str(self.pgdata),
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ]
        proc = subprocess.run(
            argv, capture_output=True, text=True, cwd=self.pgdata, env=self._env(),
            **as_user(self.os_user),
        )  # fmt: skip
        if proc.returncode != 0:
            raise StackError(
                f"postgres: initdb failed in {self.pgdata}:\n{proc.stderr.strip()[-1500:]}\n"
                f"Try: rm -rf {self.pgdata} and run `brrr stack up` again."
            )


def _let_user_traverse(path: Path, uid: int) -> None:
    """Give ``others`` the search bit on the folders above ``path`` that lack it.

    A clone under a private folder (``mktemp -d`` makes 0700 folders) would otherwise keep the
    ``postgres`` user out of its own data folder. Only the search bit is added, never read.
    """
    for parent in path.parents:
        st = parent.stat()
        if st.st_uid == uid or st.st_mode & stat.S_IXOTH:
            continue
        print(f"  postgres: letting the postgres user traverse {parent} (chmod o+x)", flush=True)
        parent.chmod(st.st_mode | stat.S_IXOTH)
