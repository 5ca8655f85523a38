"""The local stack: Kafka, PostgreSQL, Redis and an S3 server on 127.0.0.1, without Docker.

``up`` installs what is missing, starts what is not running and waits until each server
answers its own protocol (a Kafka metadata request, ``SELECT 1``, ``PING``, an S3 bucket
listing). ``down`` stops what ``up`` started, by the pids it wrote. ``status`` prints one line
per service. Data and logs live under ``settings.data_dir`` (``<repo>/.brrr``); downloads that
should survive a fresh clone (Kafka jars, the S3 server binary) under ``settings.cache_dir``.

With ``BRRR_STACK_MODE=external`` nothing is installed or started: ``up`` only checks that the
servers at the configured URLs answer.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Callable, Iterator

from connectors.settings import Settings
from connectors.stack._process import (
    StackError,
    log_tail,
    port_open,
    port_owner,
    stop_pid,
)
from connectors.stack._service import Service
from connectors.stack.kafka import Kafka
from connectors.stack.postgres import postgres_services
from connectors.stack.redis import Redis
from connectors.stack.s3 import S3

__all__ = ["StackError", "down", "services", "status", "up", "up_service"]


def services(settings: Settings) -> list[Service]:
    """The stack's services, in start order (Kafka, the slowest to start, first; the
    PostgreSQL failover monitor before its nodes)."""
    return [Kafka(settings), *postgres_services(settings), Redis(settings), S3(settings)]


def _say(line: str) -> None:
    print(line, flush=True)


def up(settings: Settings) -> dict[str, int | None]:
    """Install what is missing, start what is not running, wait until every service answers.

    Parameters
    ----------
    settings : Settings
        Ports, URLs, keys and folders (``connectors.settings.get_settings()``).

    Returns
    -------
    pids : dict
        Service name to the pid of our server (None in external mode).

    Raises
    ------
    StackError
        A service could not be installed, started or reached: the message says which, why
        (the tail of its log) and what to try.
    """
    t0 = time.monotonic()
    if settings.stack_mode == "testcontainers":
        raise StackError(
            "BRRR_STACK_MODE=testcontainers needs a Docker engine, and this machine has none; "
            "use BRRR_STACK_MODE=local (the default: the project's own servers) or external."
        )
    stack = services(settings)
    if settings.stack_mode == "external":
        _say("stack: external mode, checking the configured servers (nothing is started)")
        for svc in stack:
            _wait_ready(svc, timeout_s=10.0, started=False)
        _print_table(stack, settings, time.monotonic() - t0)
        return {svc.name: None for svc in stack}

    with _stack_lock(settings):
        # Start everything first, then wait: the servers boot side by side.
        pids = {svc.name: _start_if_needed(svc) for svc in stack}
        for svc in stack:
            _make_ready(svc, started=pids[svc.name][1])
    _print_table(stack, settings, time.monotonic() - t0)
    return {name: pid for name, (pid, _) in pids.items()}


def up_service(svc: Service) -> int:
    """``up`` for one service of the local stack: install, start if needed, wait, set up.

    Returns the server's pid. Raises StackError as ``up`` does.
    """
    with _stack_lock(svc.settings):
        pid, started = _start_if_needed(svc)
        _make_ready(svc, started=started)
    return pid


def _start_if_needed(svc: Service) -> tuple[int, bool]:
    """Install what is missing and start the server unless ours runs; (pid, started now)."""
    _step(svc, "install", svc.install)
    pid = svc.pid()
    if pid is not None:
        _say(f"stack: {svc.name} already running (pid {pid})")
        return pid, False
    _refuse_foreign_port(svc)
    pid = _step(svc, "start", svc.start)
    _say(f"stack: {svc.name} started (pid {pid}), log {svc.log_file}")
    return pid, True


def _make_ready(svc: Service, started: bool) -> None:
    """Wait until the server answers, run its one-time setup, check it as clients will."""
    _wait_ready(svc, timeout_s=svc.start_timeout_s, started=started)
    _step(svc, "set up", svc.after_ready)
    _step(svc, "check", svc.check)


@contextlib.contextmanager
def _stack_lock(settings: Settings) -> Iterator[None]:
    """One ``up`` or ``down`` at a time per data folder (two test sessions starting at once
    would otherwise both start a server and the second would find its port taken)."""
    run_dir = settings.data_dir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "stack.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def down(settings: Settings) -> None:
    """Stop the services ``up`` started, by the pids it wrote, and remove their pid files.

    A pid file whose process is gone, or now belongs to another program, is removed without
    signalling anything. Nothing else is touched (a system PostgreSQL or Redis stays up).
    """
    with _stack_lock(settings):
        for svc in reversed(services(settings)):
            pid = svc.pid()
            if pid is None:
                _say(f"stack: {svc.name} not running")
                continue
            _say(f"stack: stopping {svc.name} (pid {pid})")
            clean = stop_pid(pid, sig=svc.stop_signal, timeout_s=30.0)
            if not clean:
                _say(f"stack: {svc.name} did not stop within 30 s and was killed")
            svc.pid_file.unlink(missing_ok=True)


def status(settings: Settings) -> bool:
    """Print one line per service (running or not, address, version, log); True if all answer."""
    healthy = True
    external = settings.stack_mode == "external"
    for svc in services(settings):
        pid = None if external else svc.pid()
        try:
            svc.check()
            state = "running" if external or pid else "answering (not started by us)"
            role = svc.role()
            if role:
                state += f" ({role})"
        except Exception as exc:
            state = "not running" if pid is None else f"not answering ({_short(exc)})"
            healthy = False
        where = "external" if external else f"log {svc.log_file}"
        pid_note = f"pid {pid}" if pid else "-"
        _say(
            f"{svc.name:<16} {state:<36} {svc.address:<16} {svc.version():<24} {pid_note:<10} "
            f"{where}"
        )
    return healthy


# -- helpers ---------------------------------------------------------------------------------
def _step(svc: Service, what: str, fn: Callable[[], object]) -> object:
    """Run one step of one service; any failure becomes a StackError naming the service."""
    try:
        return fn()
    except StackError:
        raise
    except Exception as exc:
        raise StackError(
            f"{svc.name}: {what} failed: {_short(exc)}\n"
            f"  log {svc.log_file}:\n{log_tail(svc.log_file)}\n"
            "Try: `brrr stack down && brrr stack up`; if it persists, remove "
            f"{svc.data_folder} (its data) and retry."
        ) from exc


def _refuse_foreign_port(svc: Service) -> None:
    """Refuse to start when a process that is not ours already listens on the port."""
    ports = [svc.port] + ([svc.controller_port] if isinstance(svc, Kafka) else [])
    for port in ports:
        if port_open(port):
            raise StackError(
                f"{svc.name}: port 127.0.0.1:{port} is already in use by a process that this "
                f"stack (data folder {svc.settings.data_dir}) did not start ({port_owner(port)}). "
                "Stop that process (if it is another clone's stack: `brrr stack down` there), "
                f"or choose another port with {svc.port_setting}, "
                "or use it as it is with BRRR_STACK_MODE=external."
            )


def _wait_ready(svc: Service, timeout_s: float, started: bool) -> None:
    """Poll ``svc.check()`` until it passes; on timeout raise StackError with the log's tail."""
    t0 = time.monotonic()
    last: Exception | None = None
    check = svc.check_started if svc.settings.stack_mode == "local" else svc.check
    while time.monotonic() - t0 < timeout_s:
        try:
            check()
            _say(f"stack: {svc.name} answers ({time.monotonic() - t0:.1f} s)")
            return
        except Exception as exc:
            last = exc
        if started and svc.pid() is None:
            raise StackError(
                f"{svc.name}: the server exited right after starting.\n"
                f"  log {svc.log_file}:\n{log_tail(svc.log_file)}\n"
                f"Try: read the log above; a port clash can be fixed with {svc.port_setting}; "
                f"a damaged data folder with rm -rf {svc.data_folder}."
            )
        time.sleep(0.3)
    where = (
        f"\n  log {svc.log_file}:\n{log_tail(svc.log_file)}"
        if svc.settings.stack_mode == "local"
        else ""
    )
    raise StackError(
        f"{svc.name}: no answer at {svc.address} after {timeout_s:.0f} s "
        f"(last error: {_short(last)}).{where}\n"
        f"Try: `brrr stack status`, check {svc.port_setting}, "
        "or `brrr stack down && brrr stack up`."
    )


def _short(exc: BaseException | None) -> str:
    if exc is None:
        return "none"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _print_table(stack: list[Service], settings: Settings, elapsed_s: float) -> None:
    _say(f"stack: all {len(stack)} services answer ({elapsed_s:.1f} s)")
    _say(f"  {'service':<16} {'address':<16} {'version':<24} {'pid':<8} role")
    for svc in stack:
        pid = None if settings.stack_mode == "external" else svc.pid()
        _say(
            f"  {svc.name:<16} {svc.address:<16} {svc.version():<24} {pid or '-'!s:<8} {_role(svc)}"
        )


def _role(svc: Service) -> str:
    try:
        return svc.role()
    except Exception as exc:
        return f"? ({_short(exc)})"
