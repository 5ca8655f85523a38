"""Redis from Debian packages, on 127.0.0.1 with its own folder under the data folder.

It runs in the foreground of its own session (the stack's pid file is its pid) rather than
with ``daemonize yes``, which would fork a pid that ``up`` never sees; Redis still writes its
own pid file beside ours.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from connectors.stack._install import apt_install
from connectors.stack._process import start_detached
from connectors.stack._service import Service


class Redis(Service):
    """The project's own Redis server."""

    name = "redis"
    exe_names = ("redis-server", "redis-check-rdb")
    start_timeout_s = 30.0
    port_setting = "BRRR_REDIS_URL"

    @property
    def port(self) -> int:
        return self.settings.redis_port

    @property
    def address(self) -> str:
        url = urlsplit(self.settings.redis_url)
        return f"{url.hostname}:{self.port}"

    @property
    def workdir(self) -> Path:
        return self.settings.data_dir / "redis"

    @property
    def data_folder(self) -> Path:
        return self.workdir

    def _binary(self) -> str | None:
        return shutil.which("redis-server") or (
            "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
        )

    def install(self) -> None:
        if self._binary() is None:
            apt_install(["redis-server"])

    def version(self) -> str:
        binary = self._binary()
        if binary is None:
            return "?"
        out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
        # "Redis server v=7.0.15 sha=..."
        for token in out.split():
            if token.startswith("v="):
                return "Redis " + token[2:]
        return "?"

    def start(self) -> int:
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            self._binary() or "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.workdir),
            "--pidfile",
            str(self.workdir / "redis-server.pid"),
            "--daemonize",
            "no",
            "--appendonly",
            "no",
            "--save",
            "300 10",
            "--protected-mode",
            "yes",
        ]
        return start_detached(
            argv, log_file=self.log_file, pid_file=self.pid_file, cwd=self.workdir
        )

    def check(self) -> None:
        import redis

        client = redis.Redis.from_url(
            self.settings.redis_url, socket_timeout=2, socket_connect_timeout=2
        )
        try:
            if not client.ping():
                raise ConnectionError("PING was not answered with PONG")
        finally:
            client.close()
