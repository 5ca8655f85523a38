"""PostgreSQL 15 with automatic failover: a pg_auto_failover monitor and two nodes.

The local stack runs Debian's ``postgresql-15-auto-failover``: a monitor (a small PostgreSQL of
its own that health-checks the nodes and decides their roles) and one node per host of
``BRRR_POSTGRES_URL`` (two by default: a primary and a secondary with synchronous
replication, so that a committed row is on both before the commit returns). Each is run by its
own ``pg_autoctl run`` supervisor, which starts and watches its PostgreSQL. When the primary
dies the monitor promotes the secondary within seconds; clients connect with the multi-host
URL and ``target_session_attrs=read-write`` and so find the new primary by themselves. A node
started again after a failover rejoins as the secondary (``pg_rewind``).

Everything lives under ``<data_dir>/postgres``: ``monitor``, ``node-1``, ``node-2``
(the clusters), ``backup`` (pg_autoctl's base backups), ``run`` (the unix sockets) and
``pg_autoctl`` (pg_autoctl's own configuration and state, kept there through
``XDG_CONFIG_HOME``/``XDG_DATA_HOME``).
Everything listens on 127.0.0.1 only. PostgreSQL refuses to run as root, so as root the
clusters belong to the ``postgres`` OS user. The role and database of the URL are created on
the primary once it answers (the secondary gets them by replication). ``pg_partman`` is
installed so that migrations can ``CREATE EXTENSION pg_partman``; TimescaleDB is not available
from Debian.

The Debian package may create a system cluster on port 5432; it is left alone and not used.

References
----------
pg_auto_failover documentation, "Architecture Basics" and "Failover State Machine":
https://pg-auto-failover.readthedocs.io/
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from connectors.settings import Settings, postgres_hosts
from connectors.stack._install import apt_install
from connectors.stack._process import StackError, as_user, start_detached
from connectors.stack._service import Service

PG_MAJOR = 15
PG_BIN = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")
PG_AUTOCTL = Path("/usr/bin/pg_autoctl")
PARTMAN_CONTROL = Path(f"/usr/share/postgresql/{PG_MAJOR}/extension/pg_partman.control")
PACKAGES = [
    f"postgresql-{PG_MAJOR}",
    f"postgresql-{PG_MAJOR}-partman",
    f"postgresql-{PG_MAJOR}-auto-failover",
    "pg-auto-failover-cli",
]
# Throwaway development data: durability on disk traded for speed (tests write many small
# rows). synchronous_commit stays on: a commit returns once the secondary has it too, which
# is what makes a failover lose nothing.
NODE_SETTINGS = {
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "128MB",
    "log_min_messages": "warning",
}
# The monitor: small (pg_autoctl would size shared_buffers to a quarter of the machine's
# memory), and quick to call a node dead, so that a failover takes seconds, not half a minute
# (the defaults: a health check every 20 s and 20 s before a node is unhealthy).
MONITOR_SETTINGS = {
    "shared_buffers": "32MB",
    "log_min_messages": "warning",
    "pgautofailover.health_check_period": "1s",
    "pgautofailover.health_check_timeout": "1s",
    "pgautofailover.health_check_max_retries": "1",
    "pgautofailover.health_check_retry_delay": "1s",
    "pgautofailover.node_considered_unhealthy_timeout": "3s",
    "pgautofailover.primary_demote_timeout": "3s",
}
# The nodes' own access rules (pg_autoctl's are wider than loopback): the monitor's health
# checks and the replication between nodes without a password, everything else with one.
NODE_HBA = """\
# Written by brrr stack up (connectors/stack/postgres.py).
local   all          all                                      trust
local   replication  all                                      trust
host    all          pgautofailover_monitor     127.0.0.1/32  trust
host    replication  pgautofailover_replicator  127.0.0.1/32  trust
host    all          pgautofailover_replicator  127.0.0.1/32  trust
host    all          all                        127.0.0.1/32  scram-sha-256
"""
FORMATION_STATES_SERVING = ("single", "primary", "wait_primary")


class _PgAutoctlService(Service):
    """What the monitor and the nodes share: the OS user, the environment, ``pg_autoctl``."""

    exe_names = ("pg_autoctl",)
    #: the cluster's folder under ``base_dir``
    folder: str = ""
    start_timeout_s = 90.0
    # SIGINT asks pg_autoctl for a fast shutdown of its PostgreSQL, then it exits.
    stop_signal = signal.SIGINT
    port_setting = "BRRR_POSTGRES_URL"

    @property
    def base_dir(self) -> Path:
        """The folder of the whole formation, owned by the OS user that runs it
        (pg_autoctl makes its base backups beside the data folders)."""
        return self.settings.data_dir / "postgres"

    @property
    def pgdata(self) -> Path:
        return self.base_dir / self.folder

    @property
    def data_folder(self) -> Path:
        return self.pgdata

    @property
    def socket_dir(self) -> Path:
        """The unix sockets of all three clusters (one folder: a base backup copies the
        setting from the primary to the secondary)."""
        return self.base_dir / "run"

    @property
    def os_user(self) -> str | None:
        """The OS user that runs the clusters: ``postgres`` as root, else the current user."""
        return "postgres" if os.geteuid() == 0 else None

    @property
    def monitor_port(self) -> int:
        return self.settings.postgres_monitor_port

    @property
    def monitor_uri(self) -> str:
        return (
            f"postgres://autoctl_node@127.0.0.1:{self.monitor_port}/pg_auto_failover"
            "?sslmode=disable"
        )

    def install(self) -> None:
        if (PG_BIN / "postgres").exists() and PARTMAN_CONTROL.exists() and PG_AUTOCTL.exists():
            return
        apt_install(PACKAGES)

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

    def created(self) -> bool:
        """Whether ``pg_autoctl create`` finished for this cluster (its configuration exists)."""
        config = self._xdg("config") / "pg_autoctl" / str(self.pgdata).lstrip("/")
        return (config / "pg_autoctl.cfg").exists() and (self.pgdata / "PG_VERSION").exists()

    def start(self) -> int:
        self._prepare_folders()
        if not self.created():
            self._create()
        return start_detached(
            [str(PG_AUTOCTL), "run", "--pgdata", str(self.pgdata)],
            log_file=self.log_file,
            pid_file=self.pid_file,
            cwd=self.base_dir,
            # Once created, the clusters listen only on this stack's socket folder, and the
            # monitor's own services find their database by libpq's default folder
            # (/var/run/postgresql) unless told. Not while creating: pg_autoctl's initdb
            # cluster listens in the default folder until our settings are appended.
            env={**self._env(), "PGHOST": str(self.socket_dir)},
            user=self.os_user,
        )

    def _create(self) -> None:
        raise NotImplementedError

    def _superuser(self, dbname: str = "postgres", connect_timeout: int = 5):
        # -> psycopg.Connection; over the socket, as the cluster's superuser (trust).
        import psycopg

        return psycopg.connect(
            host=str(self.socket_dir), port=self.port, user="postgres", dbname=dbname,
            autocommit=True, connect_timeout=connect_timeout,
        )  # fmt: skip

    def check_started(self) -> None:
        with self._superuser(connect_timeout=2) as conn:
            conn.execute("SELECT 1").fetchone()

    # -- helpers ----------------------------------------------------------------------------
    def _xdg(self, kind: str) -> Path:
        return self.base_dir / "pg_autoctl" / kind

    def _env(self) -> dict[str, str]:
        env = {
            "PATH": f"{PG_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "LANG": "C.UTF-8",
            "LC_ALL": "",
            "XDG_CONFIG_HOME": str(self._xdg("config")),
            "XDG_DATA_HOME": str(self._xdg("data")),
        }
        if self.os_user:
            env["HOME"] = pwd.getpwnam(self.os_user).pw_dir
        return env

    def _prepare_folders(self) -> None:
        """The data folder's parents, the socket and pg_autoctl folders, owned by the OS
        user that runs the clusters."""
        if (self.base_dir / "PG_VERSION").exists():
            raise StackError(
                f"postgres: {self.base_dir} holds a single PostgreSQL cluster of an earlier "
                "version of this stack, which now runs a failover formation there. "
                f"Try: `brrr stack down`, then rm -rf {self.base_dir} (development data) and "
                "`brrr stack up` again."
            )
        folders = [self.socket_dir, self._xdg("config"), self._xdg("data")]
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        if self.os_user:
            entry = pwd.getpwnam(self.os_user)
            for folder in [*folders, self._xdg("config").parent, self.base_dir]:
                os.chown(folder, entry.pw_uid, entry.pw_gid)
            _let_user_traverse(self.base_dir, entry.pw_uid)

    def _run_autoctl(self, args: list[str], what: str, timeout_s: float = 120.0) -> str:
        """Run one ``pg_autoctl`` command to its end; StackError with its output otherwise."""
        argv = [str(PG_AUTOCTL), *args]
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, cwd=self.base_dir,
                env=self._env(), timeout=timeout_s, **as_user(self.os_user),
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise StackError(
                f"{self.name}: {what} did not finish within {timeout_s:.0f} s "
                f"({' '.join(argv)}). Try: `brrr stack down`, remove {self.pgdata} and "
                "`brrr stack up` again."
            ) from exc
        with self.log_file.open("a") as log:
            log.write(f"\n=== {' '.join(argv)}\n{proc.stdout}{proc.stderr}")
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise StackError(
                f"{self.name}: {what} failed (exit {proc.returncode}):\n{tail}\n"
                f"Try: `brrr stack down`, remove {self.base_dir} (the whole formation: the "
                "monitor remembers its nodes) and `brrr stack up` again."
            )
        return proc.stdout

    def _append_settings(self, settings: dict[str, str]) -> None:
        """Settings that win over pg_autoctl's own (``postgresql.auto.conf`` is read last)."""
        lines = [f"{key} = '{value}'" for key, value in settings.items()]
        with (self.pgdata / "postgresql.auto.conf").open("a") as conf:
            conf.write("# brrr stack up\n" + "\n".join(lines) + "\n")

    def _empty_pgdata(self) -> None:
        """A new, empty data folder that the OS user owns (the data folder above it is not
        theirs to create folders in)."""
        shutil.rmtree(self.pgdata, ignore_errors=True)
        self.pgdata.mkdir(parents=True, mode=0o700)
        self._chown_tree(self.pgdata)

    def _chown_tree(self, path: Path) -> None:
        if not self.os_user:
            return
        entry = pwd.getpwnam(self.os_user)
        for root, dirs, files in os.walk(path):
            for name in [*dirs, *files]:
                os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)
        os.chown(path, entry.pw_uid, entry.pw_gid)


class PostgresMonitor(_PgAutoctlService):
    """The pg_auto_failover monitor: watches the nodes and assigns primary and secondary."""

    name = "postgres-monitor"
    folder = "monitor"
    port_setting = "BRRR_POSTGRES_MONITOR_PORT"

    @property
    def port(self) -> int:
        return self.monitor_port

    def _create(self) -> None:
        print(f"  postgres: creating the failover monitor in {self.pgdata}", flush=True)
        self._empty_pgdata()
        self._run_autoctl(
            [
                "create", "monitor", "--pgctl", str(PG_BIN / "pg_ctl"),
                "--pgdata", str(self.pgdata), "--pgport", str(self.port),
                "--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl",
            ],
            "creating the monitor",
        )  # fmt: skip
        self._run_autoctl(
            [
                "config", "set", "--pgdata", str(self.pgdata),
                "postgresql.listen_addresses", "127.0.0.1",
            ],
            "setting the monitor's listen address",
        )  # fmt: skip
        self._append_settings({**MONITOR_SETTINGS, "unix_socket_directories": str(self.socket_dir)})

    def check(self) -> None:
        self.check_started()

    def nodes(self) -> list[tuple[str, int, str, str]]:
        """Each node's (name, port, reported state, assigned state), as the monitor sees them."""
        with self._superuser(dbname="pg_auto_failover", connect_timeout=2) as conn:
            rows = conn.execute(
                "SELECT nodename, nodeport, reportedstate::text, goalstate::text"
                " FROM pgautofailover.node ORDER BY nodeid"
            ).fetchall()
        return [(str(n), int(p), str(r), str(g)) for n, p, r, g in rows]

    def role(self) -> str:
        serving = [n for n, _, reported, _ in self.nodes() if reported in FORMATION_STATES_SERVING]
        return f"monitor, primary {serving[0]}" if serving else "monitor"


class PostgresNode(_PgAutoctlService):
    """One PostgreSQL node of the formation, on the port of one host of the URL.

    The first node created initialises the database and becomes the primary; a later one is
    cloned from it (``pg_basebackup``) and becomes its synchronous secondary. After a failover
    the roles are whatever the monitor decided; ``role()`` says which.
    """

    def __init__(self, settings: Settings, index: int) -> None:
        super().__init__(settings)
        self.index = index
        self.name = f"postgres-{index + 1}"
        self.folder = f"node-{index + 1}"

    @property
    def port(self) -> int:
        return postgres_hosts(self.settings.postgres_url)[self.index][1]

    @property
    def monitor(self) -> PostgresMonitor:
        return PostgresMonitor(self.settings)

    def start(self) -> int:
        # A node's keeper gives up after five failed tries at the monitor within a second,
        # which is how long a monitor recovering after a crash or reboot takes to answer.
        self._wait_for_monitor()
        return super().start()

    def _create(self) -> None:  # after start() has waited for the monitor
        if self.index == 0:
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
        else:
            # A clone: pg_autoctl copies the primary once the monitor says it serves.
            self._empty_pgdata()
            self._wait_for_a_primary()
        print(f"  postgres: registering {self.name} with the failover monitor", flush=True)
        self._run_autoctl(
            [
                "create", "postgres", "--pgctl", str(PG_BIN / "pg_ctl"),
                "--pgdata", str(self.pgdata), "--pgport", str(self.port),
                "--pghost", str(self.socket_dir), "--listen", "127.0.0.1",
                "--hostname", "127.0.0.1", "--name", self.name,
                "--monitor", self.monitor_uri, "--skip-pg-hba", "--no-ssl",
            ],
            f"registering {self.name}",
        )  # fmt: skip

    def _initdb(self) -> None:
        print(f"  postgres: creating a new cluster in {self.pgdata}", flush=True)
        self._empty_pgdata()
        argv = [
            str(PG_BIN / "initdb"), "-D", str(self.pgdata), "-U", "postgres", "-E", "UTF8",
            "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=scram-sha-256",
        ]  # fmt: skip
        proc = subprocess.run(
            argv, capture_output=True, text=True, cwd=self.pgdata, env=self._env(),
            **as_user(self.os_user),
        )  # fmt: skip
        if proc.returncode != 0:
            raise StackError(
                f"{self.name}: initdb failed in {self.pgdata}:\n{proc.stderr.strip()[-1500:]}\n"
                f"Try: rm -rf {self.pgdata} and run `brrr stack up` again."
            )
        (self.pgdata / "pg_hba.conf").write_text(NODE_HBA)
        self._append_settings({**NODE_SETTINGS, "unix_socket_directories": str(self.socket_dir)})
        self._chown_tree(self.pgdata)

    def _wait_for_monitor(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.monitor.check()
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise StackError(
                        f"{self.name}: the failover monitor does not answer on port "
                        f"{self.monitor_port} ({exc}). Try: `brrr stack status`."
                    ) from exc
                time.sleep(0.3)

    def _wait_for_a_primary(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            states = [reported for _, _, reported, _ in self.monitor.nodes()]
            if any(state in FORMATION_STATES_SERVING for state in states):
                return
            time.sleep(0.3)
        raise StackError(
            f"{self.name}: no node of the formation serves as primary after {timeout_s:.0f} s, "
            "so there is nothing to clone. Try: `brrr stack status` and the other node's log."
        )

    def check(self) -> None:
        """The node answers; the primary also as clients reach it (the URL, read-write)."""
        import psycopg

        with self._superuser(connect_timeout=2) as conn:
            if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                return
        with psycopg.connect(self.settings.postgres_url, connect_timeout=2) as conn:
            conn.execute("SELECT 1").fetchone()

    def role(self) -> str:
        """``primary``, ``secondary`` or the monitor's state of this node while it changes."""
        for name, _, reported, goal in self.monitor.nodes():
            if name == self.name:
                if reported == goal:
                    return "primary" if reported in FORMATION_STATES_SERVING else reported
                return f"{reported} -> {goal}"
        return "not registered"

    def after_ready(self) -> None:
        """Create the URL's role and database on the primary (a secondary gets them by
        replication and is read-only).

        The role is a superuser of this throwaway development cluster: ``CREATE EXTENSION
        pg_partman`` (not a trusted extension) then works from the project's own migrations,
        as it does for the superuser that the TimescaleDB image creates in docker-compose.
        """
        import psycopg

        # A formation restarting after a crash may still be choosing its primary: the node
        # that answers first can be demoted and stop again to rewind onto the other one
        # (pg_rewind), or be promoted. Set up and check once every node has its role.
        wait_until_settled(self.settings, timeout_s=self.start_timeout_s)
        deadline = time.monotonic() + 30.0
        while True:
            try:
                self._set_up_role_and_database()
                return
            except (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    def _set_up_role_and_database(self) -> None:
        from psycopg import sql

        with self._superuser() as conn:
            if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                return
            url = urlsplit(self.settings.postgres_url)
            role = unquote(url.username or "brrr")
            password = unquote(url.password or "")
            dbname = unquote(url.path.lstrip("/") or role)
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


class PostgresServer(Service):
    """A PostgreSQL that something else runs (``BRRR_STACK_MODE=external``): only checked."""

    name = "postgres"
    port_setting = "BRRR_POSTGRES_URL"

    @property
    def port(self) -> int:
        return self.settings.postgres_port

    @property
    def address(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in postgres_hosts(self.settings.postgres_url))

    def install(self) -> None:
        return None

    def check(self) -> None:
        import psycopg

        with psycopg.connect(self.settings.postgres_url, connect_timeout=2) as conn:
            conn.execute("SELECT 1").fetchone()


def postgres_services(settings: Settings) -> list[Service]:
    """The PostgreSQL part of the stack: the monitor and a node per host of the URL (local
    mode), or the one server the URL names (external mode)."""
    if settings.stack_mode != "local":
        return [PostgresServer(settings)]
    return [PostgresMonitor(settings), *formation_nodes(settings)]


def _let_user_traverse(path: Path, uid: int) -> None:
    """Give ``others`` the search bit on ``path`` and the folders above it that lack it.

    A clone under a private folder (``mktemp -d`` makes 0700 folders) would otherwise keep the
    ``postgres`` user out of its own data folder. Only the search bit is added, never read.
    """
    for folder in [path, *path.parents]:
        st = folder.stat()
        if st.st_uid == uid or st.st_mode & stat.S_IXOTH:
            continue
        print(f"  postgres: letting the postgres user traverse {folder} (chmod o+x)", flush=True)
        folder.chmod(st.st_mode | stat.S_IXOTH)


def formation_nodes(settings: Settings) -> list[PostgresNode]:
    """The nodes of the local formation, one per host of the URL."""
    return [PostgresNode(settings, i) for i in range(len(postgres_hosts(settings.postgres_url)))]


def primary_node(settings: Settings) -> PostgresNode | None:
    """The node the monitor has made primary and that says it is (None during a failover)."""
    for node in formation_nodes(settings):
        try:
            if node.role() == "primary":
                return node
        except Exception:  # the monitor itself may be restarting
            return None
    return None


def wait_until_settled(settings: Settings, timeout_s: float = 90.0) -> dict[str, str]:
    """Wait until every node has reached the state the monitor assigned it, one of them
    primary; returns each node's role. Raises StackError on timeout."""
    deadline = time.monotonic() + timeout_s
    roles: dict[str, str] = {}
    while time.monotonic() < deadline:
        try:
            roles = {node.name: node.role() for node in formation_nodes(settings)}
        except Exception as exc:
            roles = {"monitor": f"not answering ({exc})"}
        settled = all(role in ("primary", "secondary") for role in roles.values())
        if settled and list(roles.values()).count("primary") == 1:
            return roles
        time.sleep(0.5)
    raise StackError(
        f"postgres: the failover formation did not settle within {timeout_s:.0f} s: {roles}. "
        "Try: `brrr stack status` and the nodes' logs."
    )
