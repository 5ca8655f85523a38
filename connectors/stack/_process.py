"""Process bookkeeping for the local stack: pid files, detached start, stop, ports, logs.

Every server is started in its own session (``setsid``) so it outlives ``brrr stack up``; its
process id goes to ``<data_dir>/run/<name>.pid`` and its output to ``<data_dir>/logs/<name>.log``.
``down`` stops a server only through that pid file, and only when the process behind the pid is
still the program that was started (pids are reused by the kernel).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


class StackError(RuntimeError):
    """A service of the local stack could not be installed, started or reached.

    The message names the service, says what went wrong (with the tail of its log where there
    is one) and what to try.
    """


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # The state letter follows the parenthesised command name.
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def pid_cmdline(pid: int) -> str:
    """The command line of a process, spaces between arguments ('' when unknown)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def pid_exe_name(pid: int) -> str:
    """The file name of a process's executable ('' when unknown)."""
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")).name
    except OSError:
        return ""


def read_pid(pid_file: Path) -> int | None:
    """The pid stored in ``pid_file``, or None when the file is missing or unreadable."""
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def owned_pid(pid_file: Path, exe_names: Sequence[str]) -> int | None:
    """The pid in ``pid_file`` if that process is alive and runs one of ``exe_names``.

    A pid file whose process is gone, or whose pid now belongs to another program, is stale:
    it is removed and None is returned.
    """
    pid = read_pid(pid_file)
    if pid is None:
        return None
    if pid_alive(pid) and pid_exe_name(pid) in exe_names:
        return pid
    with contextlib.suppress(FileNotFoundError):
        pid_file.unlink()
    return None


def port_open(port: int, host: str = "127.0.0.1", timeout_s: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        return sock.connect_ex((host, port)) == 0


def port_owner(port: int) -> str:
    """A short description of the process listening on ``port`` (pid and command)."""
    try:
        out = subprocess.run(
            ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown process"
    marker = "pid="
    if marker not in out:
        return "unknown process"
    pid = int(out.split(marker, 1)[1].split(",", 1)[0])
    return f"pid {pid}: {pid_cmdline(pid)[:160] or '?'}"


def start_detached(
    argv: Sequence[str],
    *,
    log_file: Path,
    pid_file: Path,
    cwd: Path,
    env: dict[str, str] | None = None,
    user: str | None = None,
) -> int:
    """Start ``argv`` in a new session, output appended to ``log_file``; write its pid.

    Parameters
    ----------
    argv : sequence of str
        The program and its arguments; the program itself must stay in the foreground so that
        the pid written is the server's.
    log_file, pid_file : Path
        Where its standard output and error go, and where its pid is written.
    cwd : Path
        Its working folder.
    env : dict or None
        Its environment (None: this process's).
    user : str or None
        Run as this OS user, with its own primary group and no supplementary group (only
        possible as root; PostgreSQL refuses to run as root).

    Returns
    -------
    pid : int
        The server's process id.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            **as_user(user),
            start_new_session=True,
            close_fds=True,
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def as_user(user: str | None) -> dict:
    """``subprocess`` keyword arguments that run a child as ``user`` (nothing when None).

    The group matters as much as the user: a child that kept root's group would be refused
    by any folder whose group bits are closed (a ``mktemp -d`` folder is ``rwx------``).
    """
    if user is None:
        return {}
    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def stop_pid(pid: int, *, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> bool:
    """Send ``sig`` to ``pid``, wait up to ``timeout_s`` for it to exit, then SIGKILL its group.

    Returns True when the process ended within the timeout (False: it had to be killed).
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            _reap(pid)
            return True
        time.sleep(0.1)
    # The server runs in its own session: its pid is also its process group id.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _reap(pid)
    return False


def _reap(pid: int) -> None:
    # A child of this very process (started by ``up`` in the same Python) would stay a zombie.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def log_tail(log_file: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file, indented, for error messages."""
    try:
        text = log_file.read_text(errors="replace")
    except OSError:
        return "    (no log file)"
    tail = text.rstrip().splitlines()[-lines:]
    return "\n".join("    " + line for line in tail) or "    (log is empty)"
