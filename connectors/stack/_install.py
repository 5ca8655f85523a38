"""Installing what the local stack needs, each only when missing.

Debian packages through ``apt-get`` (PostgreSQL 15, pg_partman, Redis), the S3 server through
``go install`` (into the cache folder, so a fresh clone reuses it) and the Kafka broker's jars
through Maven (``mvn dependency:copy-dependencies``, with Maven's own ``~/.m2`` reused too).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from connectors.stack._process import StackError

_apt_updated = False


def _run(argv: Sequence[str], what: str, hint: str, env: dict[str, str] | None = None) -> str:
    """Run an install command; on failure raise StackError with its output's tail."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, env=env, timeout=1800)
    except FileNotFoundError as exc:
        raise StackError(f"{what}: {argv[0]} is not installed. {hint}") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise StackError(f"{what} failed (exit {proc.returncode}):\n{tail}\n{hint}")
    return proc.stdout


def _privileged(argv: list[str]) -> list[str]:
    """Prefix with ``sudo -n`` when not root (fails clearly if sudo would ask a password)."""
    if os.geteuid() == 0:
        return argv
    if shutil.which("sudo") is None:
        raise StackError(
            f"installing Debian packages needs root; run as root: {' '.join(argv)} "
            "(or point the project at existing servers with BRRR_STACK_MODE=external)"
        )
    return ["sudo", "-n", *argv]


def apt_install(packages: Sequence[str]) -> None:
    """Install Debian packages, running ``apt-get update`` first once if they are unknown."""
    global _apt_updated
    print(f"  installing Debian packages: {' '.join(packages)}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = _privileged(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages])
    hint = "Try: apt-get update && apt-get install -y " + " ".join(packages)
    try:
        _run(install, "apt-get install", hint, env=env)
    except StackError:
        if _apt_updated:
            raise
        # A fresh machine's package lists may be empty or stale.
        _apt_updated = True
        _run(_privileged(["apt-get", "update", "-q"]), "apt-get update", hint, env=env)
        _run(install, "apt-get install", hint, env=env)


def go_install(module: str, version: str, bin_dir: Path, binary: str) -> Path:
    """``go install module@version`` into ``bin_dir`` unless ``bin_dir/binary`` exists.

    A stamp file beside the binary remembers the version, so a version bump rebuilds it.
    """
    target = bin_dir / binary
    stamp = bin_dir / f"{binary}.version"
    if target.exists() and stamp.exists() and stamp.read_text().strip() == version:
        return target
    go = shutil.which("go")
    hint = (
        "Install Go (Debian: apt-get install golang) or use an existing S3 server with "
        "BRRR_STACK_MODE=external and BRRR_S3_ENDPOINT."
    )
    if go is None:
        raise StackError(f"building {binary} needs the Go toolchain, which is not on PATH. {hint}")
    print(f"  building {module}@{version} with go install (about 2 minutes)", flush=True)
    bin_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(bin_dir), "GOFLAGS": "-buildvcs=false"}
    _run([go, "install", f"{module}@{version}"], f"go install {module}@{version}", hint, env=env)
    stamp.write_text(version + "\n")
    return target


def maven_copy_dependencies(pom: Path, libs_dir: Path) -> Path:
    """Copy the runtime dependencies of ``pom`` into ``libs_dir`` unless already there.

    The folder is keyed by the pom's content (a stamp file holds its hash), filled in a
    temporary folder first and renamed, so an interrupted download never looks complete.
    """
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:16]
    stamp = libs_dir / ".brrr-complete"
    if stamp.exists() and stamp.read_text().strip() == digest:
        return libs_dir
    mvn = shutil.which("mvn")
    hint = (
        "Install Maven and Java 17 (Debian: apt-get install maven openjdk-17-jre-headless), "
        "or use an existing broker with BRRR_STACK_MODE=external and BRRR_KAFKA_BOOTSTRAP_SERVERS."
    )
    if mvn is None:
        raise StackError(f"fetching the Kafka broker jars needs Maven (mvn). {hint}")
    print(f"  fetching the Kafka broker jars with Maven into {libs_dir}", flush=True)
    tmp = libs_dir.with_name(libs_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    argv = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={tmp}",
    ]
    _run(argv, "mvn dependency:copy-dependencies", hint)
    shutil.rmtree(libs_dir, ignore_errors=True)
    tmp.rename(libs_dir)
    stamp.write_text(digest + "\n")
    return libs_dir
