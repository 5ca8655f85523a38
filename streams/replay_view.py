"""What ``brrr replay`` shows: a progress bar per file and overall, then the table."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from tqdm import tqdm

from connectors.db.jobs import JobState
from connectors.settings import Settings
from schemas.records import AnalysisType
from streams.replay import (
    FileOutcome,
    ReplayedFile,
    SkippedFile,
    collect_files,
    follow,
    submit,
    worker_members,
)

#: How often the replay checks that some worker is consuming while jobs are queued.
WORKER_CHECK_S = 10.0


async def run_replay(
    settings: Settings,
    paths: list[Path],
    *,
    analysis_type: AnalysisType,
    speed: str,
    timeout_s: float | None,
    quiet: bool,
) -> int:
    """Replay the files, print the table; returns the exit code (0: every job completed)."""
    files = collect_files(paths)
    if not files:
        click.echo("error: no EDF/BDF files found in " + ", ".join(map(str, paths)), err=True)
        return 2
    outcomes, skips = await replay_and_follow(
        settings, files, analysis_type=analysis_type, speed=speed, timeout_s=timeout_s, quiet=quiet
    )
    click.echo(format_table(outcomes, skips))
    if not outcomes:
        return 2
    return 0 if all(o.state is not None and o.state.status == "completed" for o in outcomes) else 1


async def run_follow(
    settings: Settings, files: list[Path], *, analysis_type: AnalysisType, speed: str
) -> list[FileOutcome]:
    """Replay files and follow them with progress bars (the demo's replay)."""
    outcomes, _skips = await replay_and_follow(
        settings, files, analysis_type=analysis_type, speed=speed, timeout_s=None, quiet=False
    )
    return outcomes


async def replay_and_follow(
    settings: Settings,
    files: list[Path],
    *,
    analysis_type: AnalysisType,
    speed: str,
    timeout_s: float | None,
    quiet: bool,
) -> tuple[list[FileOutcome], list[SkippedFile]]:
    """Submit the files as jobs, say so, then follow them to their end."""

    def skipped(skip: SkippedFile) -> None:
        click.echo(f"skipped {skip.path}: {skip.reason}", err=True)

    replayed, skips = await submit(
        settings, files, analysis_type=analysis_type, speed=speed, on_skip=skipped
    )
    hours = sum(r.duration_s for r in replayed) / 3600
    click.echo(
        f"replaying {len(replayed)} file(s), {hours:.2f} h of EEG ({analysis_type}, speed "
        f"{speed}); {len(skips)} skipped"
    )
    if not replayed:
        return [], skips
    if await asyncio.to_thread(worker_members, settings) == 0:
        click.echo(
            "warning: no worker is consuming the jobs; start one with `brrr worker` "
            "(the jobs wait in Kafka until then)",
            err=True,
        )
    outcomes = await _follow_with_bars(settings, replayed, timeout_s=timeout_s, quiet=quiet)
    return outcomes, skips


async def _follow_with_bars(
    settings: Settings, replayed: list[ReplayedFile], *, timeout_s: float | None, quiet: bool
) -> list[FileOutcome]:
    overall = tqdm(total=100 * len(replayed), desc="all files", unit="%", disable=quiet)
    bars = {
        r.job_id: tqdm(total=100, desc=r.path.name[:28], unit="%", leave=False, disable=quiet)
        for r in replayed
    }

    def on_state(item: ReplayedFile, state: JobState) -> None:
        bar = bars[item.job_id]
        done = 100 if state.is_finished else round(100 * state.progress)
        if done > bar.n:
            overall.update(done - bar.n)
            bar.update(done - bar.n)
        bar.set_postfix_str(
            state.status + (f", retry {state.retry_count}" if state.retry_count else "")
        )

    async def watch_workers() -> None:
        while True:
            await asyncio.sleep(WORKER_CHECK_S)
            if await asyncio.to_thread(worker_members, settings) == 0:
                tqdm.write("warning: no worker is consuming the jobs; start one with `brrr worker`")

    watcher = asyncio.create_task(watch_workers())
    try:
        return await follow(settings, replayed, on_state=on_state, timeout_s=timeout_s)
    finally:
        watcher.cancel()
        for bar in bars.values():
            bar.close()
        overall.close()


def format_table(outcomes: list[FileOutcome], skips: list[SkippedFile]) -> str:
    """Each file's job status, verdict, triage, windows and events, as read back."""
    header = (
        f"{'file':<32} {'status':<11} {'retries':>7} {'verdict':<9} {'triage':<9} "
        f"{'windows':>7}  events"
    )
    lines = [header, "-" * len(header)]
    for o in outcomes:
        status = o.state.status if o.state is not None else "unknown"
        verdict = "-" if o.is_abnormal is None else ("abnormal" if o.is_abnormal else "normal")
        events = ", ".join(f"{k} {v}" for k, v in sorted(o.events.items()) if k != "artifact")
        artifacts = o.events.get("artifact", 0)
        if artifacts:
            events += (", " if events else "") + f"({artifacts} artifacts)"
        lines.append(
            f"{o.replayed.path.name[:32]:<32} {status:<11} "
            f"{(o.state.retry_count if o.state else 0):>7} {verdict:<9} "
            f"{(o.triage or '-').upper():<9} {o.n_windows if o.n_windows is not None else '-':>7}  "
            f"{events or 'none'}"
        )
        if o.state is not None and o.state.status == "failed":
            lines.append(f"    error: {o.state.error}")
    for s in skips:
        lines.append(f"{s.path.name[:32]:<32} {'skipped':<11} {'':>7} {s.reason}")
    return "\n".join(lines)
