"""Benchmark of the REST API under a clinic's load, and its memory over many analyses.

One ``brrr worker`` and one ``brrr api`` (on a free port) run in a Kafka namespace of their
own (``bench-api-<random>``), so no other worker takes their jobs. Then:

1. memory: ``--cycles`` sequential upload -> analyze (quick) -> poll-until-completed cycles
   of one user, with the resident memory of the API process and of the worker process after
   cycle ``--first`` and after the last (target: growth under 100 MB);
2. latency: ``--users`` users, each with a token and ``--files`` files uploaded beforehand,
   run by locust headless (``bench/locustfile.py``: quick analyses three times as often as
   comprehensive ones, status polls twice as often as analyses) for ``--run-time`` seconds;
   p50/p95/p99 of ``POST /api/v1/eeg/analyze`` and ``GET /api/v1/jobs/{id}`` from locust's
   CSV statistics (target: p95 under 50 ms for both).

The memory part runs first, on a worker with nothing queued: the latency part queues more
jobs than the worker can run in its time, and the worker keeps running them while the API
is measured (as in a clinic, where both share the machine). The stack must be up
(``brrr stack up``). Figures go to stdout and ``bench/results/api.json``; nothing is
asserted. Users named ``bench-api-...`` and their jobs are left in PostgreSQL, the jobs the
worker did not finish marked failed.

Usage: ``python bench/bench_api.py [--users 50] [--run-time 60] [--cycles 100] [--first 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
#: The worker runs EEGPT (comprehensive analyses) with seeded random weights, int8.
WORKER_ENV = {"BRRR_ALLOW_RANDOM_WEIGHTS": "true", "BRRR_EEGPT_PRECISION": "int8"}
#: (method, locust name) of the endpoints with a latency target.
ENDPOINTS = (("POST", "/api/v1/eeg/analyze"), ("GET", "/api/v1/jobs/{id}"))
TARGET_P95_MS = 50.0
TARGET_GROWTH_MB = 100.0
MB = 2**20


@dataclass
class Service:
    """A process this benchmark started, and its log."""

    name: str
    proc: subprocess.Popen
    log_path: Path

    def log_tail(self, chars: int = 3000) -> str:
        """The end of its log."""
        return self.log_path.read_text(errors="replace")[-chars:]

    def check_alive(self) -> None:
        """Stop the benchmark, with the log, when the process has exited."""
        if self.proc.poll() is not None:
            raise SystemExit(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")

    def rss_mb(self) -> float:
        """Resident memory of the process and its children, MB."""
        root = psutil.Process(self.proc.pid)
        procs = [root, *root.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs) / MB

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 60 s."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)


def start_service(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Service:
    """Start ``python -m streams.cli ARGS`` with ``env``, its output to ``log_dir/NAME.log``.

    Parameters
    ----------
    name : str
        For the log file and messages.
    args : list of str
        The ``brrr`` command line after ``brrr``.
    env : dict
        The whole environment of the process.
    log_dir : Path
        Where the log goes.
    """
    log_path = log_dir / f"{name}.log"
    with log_path.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", *args],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Service(name, proc, log_path)


def wait_worker_ready(worker: Service, timeout_s: float = 120.0) -> None:
    """Until Faust says the worker is ready."""
    deadline = time.monotonic() + timeout_s
    while "Worker ready" not in worker.log_path.read_text(errors="replace"):
        worker.check_alive()
        if time.monotonic() > deadline:
            raise SystemExit(f"worker not ready in {timeout_s:g} s:\n{worker.log_tail()}")
        time.sleep(0.5)


def wait_api_healthy(api: Service, base_url: str, timeout_s: float = 60.0) -> None:
    """Until ``GET /health`` answers 200 (every service of the stack answers)."""
    deadline = time.monotonic() + timeout_s
    while True:
        api.check_alive()
        try:
            if httpx.get(f"{base_url}/health", timeout=5.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"API not healthy in {timeout_s:g} s:\n{api.log_tail()}")
        time.sleep(0.5)


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_files(out_dir: Path, n: int, minutes: float) -> list[Path]:
    """``n`` generated 19-channel recordings of ``minutes`` each, different seeds."""
    from processors.synthetic import generate_eeg

    return [
        Path(generate_eeg(60.0 * minutes, seed=900 + i).write_edf(out_dir / f"bench_{i:02d}.edf"))
        for i in range(n)
    ]


async def _create_users(postgres_url: str, n: int, prefix: str) -> list[uuid.UUID]:
    import psycopg

    from connectors.db.users import create_user

    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        users = [
            await create_user(conn, name=f"{prefix}-{i:03d}", password_hash=None) for i in range(n)
        ]
        await conn.commit()
    return [u.user_id for u in users]


def make_users(
    settings: Any, n: int, prefix: str, expiry_s: int
) -> tuple[list[uuid.UUID], list[str]]:
    """``n`` new users (who cannot log in) named ``PREFIX-NNN``, and a token of each.

    Parameters
    ----------
    settings : Settings
        PostgreSQL and the JWT secret.
    n : int
        How many users.
    prefix : str
        Their names' start, unique to this run.
    expiry_s : int
        Lifetime of the tokens, seconds: longer than the benchmark.

    Returns
    -------
    tuple of list
        The users' ids and their tokens.
    """
    from api.security import issue_token

    user_ids = asyncio.run(_create_users(settings.postgres_url, n, prefix))
    secret = settings.jwt_secret.get_secret_value()
    return user_ids, [issue_token(user_id, secret, expiry_s).token for user_id in user_ids]


def job_counts(postgres_url: str, user_ids: list[uuid.UUID]) -> dict[str, int]:
    """How many of these users' jobs are in each status."""
    import psycopg

    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM analysis_jobs WHERE owner_id = ANY(%s) GROUP BY status",
            (user_ids,),
        ).fetchall()
    return {status: count for status, count in rows}


def fail_unfinished(postgres_url: str, user_ids: list[uuid.UUID]) -> int:
    """Fail these users' queued and processing jobs once the bench's worker is stopped;
    how many. A job left ``processing`` would be claimed as stalled, and run, by a worker of
    another namespace (:func:`connectors.db.jobs.claim_stalled_jobs` does not look at it)."""
    import psycopg

    with psycopg.connect(postgres_url) as conn:
        cur = conn.execute(
            "UPDATE analysis_jobs SET status = 'failed', error = %s, completed_at = now(),"
            " updated_at = now() WHERE owner_id = ANY(%s) AND status IN ('queued', 'processing')",
            ("the benchmark (brrr bench api) ended before its worker ran this job", user_ids),
        )
        return cur.rowcount


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header of ``token``."""
    return {"Authorization": f"Bearer {token}"}


def upload(client: httpx.Client, token: str, path: Path) -> str:
    """Upload ``path``; its file id."""
    with path.open("rb") as fid:
        r = client.post(
            "/api/v1/eeg/upload", files={"file": (path.name, fid)}, headers=bearer(token)
        )
    r.raise_for_status()
    return r.json()["file_id"]


def analyze(client: httpx.Client, token: str, file_id: str, analysis_type: str) -> str:
    """Ask for an analysis of ``file_id``; its job id."""
    r = client.post(
        "/api/v1/eeg/analyze",
        json={"file_id": file_id, "analysis_type": analysis_type},
        headers=bearer(token),
    )
    r.raise_for_status()
    return r.json()["job_id"]


def wait_done(
    client: httpx.Client, token: str, job_id: str, timeout_s: float = 120.0, poll_s: float = 0.2
) -> str:
    """Poll the job until it is completed or failed; that status (``timeout`` if neither)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = client.get(f"/api/v1/jobs/{job_id}", headers=bearer(token))
        r.raise_for_status()
        status = r.json()["status"]
        if status in ("completed", "failed"):
            return status
        time.sleep(poll_s)
    return "timeout"


def memory_run(
    base_url: str, token: str, path: Path, cycles: int, first: int, services: list[Service]
) -> dict[str, Any]:
    """``cycles`` upload -> quick analysis -> completed cycles, one after the other.

    Returns
    -------
    dict
        Per service: RSS after cycle ``first``, after the last, the growth (MB) and the RSS
        after every cycle; the cycles' statuses and their mean duration.
    """
    rss: dict[str, list[float]] = {s.name: [] for s in services}
    statuses: dict[str, int] = {}
    t0 = time.monotonic()
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        for cycle in range(1, cycles + 1):
            job_id = analyze(client, token, upload(client, token, path), "quick")
            status = wait_done(client, token, job_id)
            statuses[status] = statuses.get(status, 0) + 1
            for s in services:
                s.check_alive()
                rss[s.name].append(s.rss_mb())
            if cycle in (1, first, cycles) or cycle % 25 == 0:
                print(f"  cycle {cycle}/{cycles}: {status}", flush=True)
    figures: dict[str, Any] = {
        "cycles": cycles,
        "first": first,
        "statuses": statuses,
        "mean_cycle_s": (time.monotonic() - t0) / cycles,
    }
    for name, values in rss.items():
        figures[name] = {
            "rss_mb_after_first": values[first - 1],
            "rss_mb_after_last": values[-1],
            "growth_mb": values[-1] - values[first - 1],
            "rss_mb_after_each_cycle": [round(v, 1) for v in values],
        }
    return figures


def prepare_plan(
    base_url: str, tokens: list[str], paths: list[Path], plan_path: Path
) -> dict[str, Any]:
    """Upload every file for every user; the plan the locust file reads."""
    with httpx.Client(base_url=base_url, timeout=60.0) as client:
        users = [
            {"token": token, "file_ids": [upload(client, token, p) for p in paths]}
            for token in tokens
        ]
    plan = {"users": users}
    plan_path.write_text(json.dumps(plan))
    return plan


def run_locust(
    base_url: str, plan_path: Path, args: argparse.Namespace, out_dir: Path
) -> dict[str, Any]:
    """Run the locust file headless; its statistics per endpoint (:func:`read_stats`)."""
    prefix = out_dir / "locust"
    env = {
        **os.environ,
        "BRRR_BENCH_PLAN": str(plan_path),
        "BRRR_BENCH_WAIT_S": args.wait,
        "PYTHONPATH": str(REPO),
    }
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        base_url,
        "-u",
        str(args.users),
        "-r",
        str(args.spawn_rate),
        "-t",
        f"{args.run_time}s",
        "--csv",
        str(prefix),
        "--only-summary",
        "--stop-timeout",
        "5",
        "--loglevel",
        "WARNING",
    ]
    log_path = out_dir / "locust.log"
    with log_path.open("w") as out:
        code = subprocess.call(
            command,
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=args.run_time + 120,
        )
    stats_path = Path(f"{prefix}_stats.csv")
    if not stats_path.is_file():
        raise SystemExit(f"locust exited with {code} and no statistics:\n{log_path.read_text()}")
    return {"exit_code": code, **read_stats(stats_path, Path(f"{prefix}_failures.csv"))}


def _number(value: str) -> float | None:
    return None if value in ("", "N/A") else float(value)


def read_stats(stats_path: Path, failures_path: Path) -> dict[str, Any]:
    """Locust's CSV statistics: per ``"METHOD NAME"`` (and ``"all"``) the requests, failures,
    requests per second and p50/p95/p99/max (ms); the failures' messages and counts."""
    endpoints: dict[str, dict[str, float | None]] = {}
    with stats_path.open(newline="") as fid:
        for row in csv.DictReader(fid):
            key = "all" if row["Name"] == "Aggregated" else f"{row['Type']} {row['Name']}"
            endpoints[key] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "requests_per_s": _number(row["Requests/s"]),
                "p50_ms": _number(row["50%"]),
                "p95_ms": _number(row["95%"]),
                "p99_ms": _number(row["99%"]),
                "max_ms": _number(row["Max Response Time"]),
            }
    failures = []
    if failures_path.is_file():
        with failures_path.open(newline="") as fid:
            failures = [
                {
                    "request": f"{r['Method']} {r['Name']}",
                    "error": r["Error"],
                    "count": int(r["Occurrences"]),
                }
                for r in csv.DictReader(fid)
            ]
    return {"endpoints": endpoints, "failures": failures}


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def print_table(figures: dict[str, Any]) -> None:
    """The figures as two tables: latency per endpoint, memory per process."""
    load = figures["latency"]
    print()
    print(
        f"latency: {load['users']} users, {load['run_time_s']} s, pauses {load['wait_s']} s "
        f"(locust exit code {load['exit_code']})"
    )
    print(
        f"{'endpoint':<28} {'requests':>8} {'failures':>8} {'req/s':>7} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}  target p95 < {TARGET_P95_MS:g} ms"
    )
    for method, name in ENDPOINTS:
        key = f"{method} {name}"
        print(_latency_row(key, load["endpoints"].get(key), check=True))
    print(_latency_row("all", load["endpoints"].get("all"), check=False))
    print(f"jobs of the load by status when it ended: {load['jobs_by_status']}")
    for failure in load["failures"][:5]:
        print(f"  failed {failure['count']}x {failure['request']}: {failure['error'][:100]}")
    memory = figures["memory"]
    if memory is None:
        return
    first, cycles = memory["first"], memory["cycles"]
    print()
    print(
        f"memory: {cycles} upload -> quick analysis -> completed cycles, "
        f"{memory['mean_cycle_s']:.2f} s each, statuses {memory['statuses']}"
    )
    print(
        f"{'process':<10} {f'RSS after {first} MB':>18} {f'after {cycles} MB':>14} "
        f"{'growth MB':>10}  target < {TARGET_GROWTH_MB:g} MB"
    )
    for name in ("api", "worker"):
        m = memory[name]
        print(
            f"{name:<10} {m['rss_mb_after_first']:>18.1f} {m['rss_mb_after_last']:>14.1f} "
            f"{m['growth_mb']:>+10.1f}  {_verdict(m['growth_mb'] < TARGET_GROWTH_MB)}"
        )


def _latency_row(key: str, stats: dict[str, Any] | None, *, check: bool) -> str:
    if stats is None or stats["p95_ms"] is None:
        return f"{key:<28} {'no requests':>8}"
    verdict = _verdict(stats["p95_ms"] < TARGET_P95_MS) if check else ""
    return (
        f"{key:<28} {stats['requests']:>8} {stats['failures']:>8} "
        f"{stats['requests_per_s']:>7.1f} {stats['p50_ms']:>7.0f} {stats['p95_ms']:>7.0f} "
        f"{stats['p99_ms']:>7.0f}  {verdict}"
    )


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="concurrent locust users")
    parser.add_argument("--spawn-rate", type=float, default=10.0, help="users started per s")
    parser.add_argument("--run-time", type=int, default=60, help="seconds of load")
    parser.add_argument("--wait", default="1,3", help="pause between a user's requests, MIN,MAX s")
    parser.add_argument("--files", type=int, default=2, help="files uploaded per locust user")
    parser.add_argument("--minutes", type=float, default=1.0, help="length of each file")
    parser.add_argument(
        "--cycles", type=int, default=100, help="cycles of the memory run (0: none)"
    )
    parser.add_argument("--first", type=int, default=10, help="cycle compared with the last")
    args = parser.parse_args()
    if args.cycles and not 1 <= args.first <= args.cycles:
        parser.error("--first must be between 1 and --cycles")
    return args


def run(args: argparse.Namespace, tmp_dir: Path) -> dict[str, Any]:
    """Start the worker and the API, run the memory and latency parts, stop both."""
    from connectors.settings import Settings

    run_id = uuid.uuid4().hex[:8]
    namespace = f"bench-api-{run_id}"
    settings = Settings(kafka_namespace=namespace)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        **WORKER_ENV,
        "BRRR_KAFKA_NAMESPACE": namespace,
        "PYTHONPATH": str(REPO),
    }
    print(f"namespace {namespace}, API on {base_url}, logs in {tmp_dir}", flush=True)
    bench_users: list[uuid.UUID] = []
    worker = start_service("worker", ["worker"], env, tmp_dir)
    api = start_service("api", ["api", "--port", str(port)], env, tmp_dir)
    try:
        wait_worker_ready(worker)
        wait_api_healthy(api, base_url)
        paths = write_files(tmp_dir, max(1, args.files), args.minutes)
        expiry_s = 3600 + 2 * args.run_time + 10 * args.cycles
        memory = None
        if args.cycles:
            print(f"memory run: {args.cycles} cycles", flush=True)
            mem_ids, (token,) = make_users(settings, 1, f"bench-api-{run_id}-mem", expiry_s)
            bench_users += mem_ids
            memory = memory_run(base_url, token, paths[0], args.cycles, args.first, [api, worker])
        print(f"latency run: {args.users} users, {args.run_time} s", flush=True)
        user_ids, tokens = make_users(settings, args.users, f"bench-api-{run_id}-load", expiry_s)
        bench_users += user_ids
        plan_path = tmp_dir / "plan.json"
        prepare_plan(base_url, tokens, paths[: args.files], plan_path)
        load = run_locust(base_url, plan_path, args, tmp_dir)
        api.check_alive()
        rss_after_load = {s.name: s.rss_mb() for s in (api, worker)}
        # Jobs of the load still queued when it ended: more than the worker ran meanwhile.
        load["jobs_by_status"] = job_counts(settings.postgres_url, user_ids)
    finally:
        api.stop()
        worker.stop()
        if bench_users:
            print(f"{fail_unfinished(settings.postgres_url, bench_users)} unfinished jobs failed")
    load.update(users=args.users, run_time_s=args.run_time, wait_s=args.wait)
    return {
        "namespace": namespace,
        "files_minutes": args.minutes,
        "latency": load,
        "memory": memory,
        "rss_mb_after_load": rss_after_load,
    }


def main() -> None:
    """Run the benchmark; print and write its figures."""
    args = parse_args()
    RESULTS_DIR.mkdir(exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix="brrr-bench-api-"))
    figures = run(args, tmp_dir)  # the logs stay in tmp_dir when it fails
    shutil.rmtree(tmp_dir)
    (RESULTS_DIR / "api.json").write_text(json.dumps(figures, indent=2))
    print_table(figures)
    print(f"written to {RESULTS_DIR / 'api.json'}")


if __name__ == "__main__":
    main()
