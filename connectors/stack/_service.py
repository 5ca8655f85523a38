"""What every service of the local stack knows how to do."""

from __future__ import annotations

import signal
from pathlib import Path

from connectors.settings import Settings
from connectors.stack._process import owned_pid


class Service:
    """One server of the local stack.

    Subclasses say how to install it, start it in the foreground and ask it, in its own
    protocol, whether it is ready. The base class holds the shared bookkeeping: where the pid
    file and log are, and whether the process behind the pid file is still ours.
    """

    #: short name, used for the pid file, the log file and in messages
    name: str = ""
    #: executable file names a live process of ours may have (guards against pid reuse)
    exe_names: tuple[str, ...] = ()
    #: seconds ``up`` waits for the server to answer after starting it
    start_timeout_s: float = 60.0
    #: the signal that asks for a quick clean shutdown
    stop_signal: int = signal.SIGTERM
    #: the setting to change for another port, for error messages
    port_setting: str = ""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # -- where things are -------------------------------------------------------------------
    @property
    def port(self) -> int:
        raise NotImplementedError

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.settings.data_dir / "run" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.settings.logs_dir / f"{self.name}.log"

    @property
    def data_folder(self) -> Path:
        """Where the server keeps its data (named in the hints of error messages)."""
        return self.settings.data_dir / self.name

    def pid(self) -> int | None:
        """The pid of our running server, or None (a stale pid file is removed)."""
        return owned_pid(self.pid_file, self.exe_names)

    # -- what subclasses provide ------------------------------------------------------------
    def install(self) -> None:
        """Install what is missing (fast when everything is there)."""
        raise NotImplementedError

    def start(self) -> int:
        """Prepare the data folder if needed and start the server detached; return its pid."""
        raise NotImplementedError

    def check(self) -> None:
        """Ask the server, in its own protocol, whether it answers; raise if not."""
        raise NotImplementedError

    def check_started(self) -> None:
        """The readiness check ``up`` polls right after starting (default: ``check``)."""
        self.check()

    def after_ready(self) -> None:
        """One-time setup once the server answers (role, database, bucket...)."""

    def version(self) -> str:
        """The server's version, as installed here ('?' when unknown)."""
        return "?"

    def role(self) -> str:
        """This server's part in a replicated group ('primary'...; '' when it has none)."""
        return ""
