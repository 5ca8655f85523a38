"""The ``brrr`` command line.

Heavy modules (torch, MNE, Kafka clients) are imported inside the commands that need them,
so ``brrr stack status`` answers at once.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from streams.phi_cli import phi
from streams.users_cli import users


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Brain-Go-Brrr: clinical EEG through Kafka."""


@main.group()
def stack() -> None:
    """The local stack: Kafka, PostgreSQL, Redis and an S3 server on 127.0.0.1, no Docker."""


@stack.command("up")
def stack_up() -> None:
    """Install what is missing, start what is not running, wait until each service answers."""
    from connectors.settings import get_settings
    from connectors.stack import StackError, up

    try:
        up(get_settings())
    except StackError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@stack.command("down")
def stack_down() -> None:
    """Stop the services that ``up`` started (by process id), nothing else."""
    from connectors.settings import get_settings
    from connectors.stack import down

    down(get_settings())


@stack.command("status")
def stack_status() -> None:
    """One line per service: running or not, address, version, log file."""
    from connectors.settings import get_settings
    from connectors.stack import status

    sys.exit(0 if status(get_settings()) else 3)


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--type",
    "analysis_type",
    type=click.Choice(["quick", "screening", "comprehensive"]),
    default="screening",
    show_default=True,
    help="quick: QC + qEEG screen; screening: + EEGPT, events if abnormal; "
    "comprehensive: + AutoReject and sleep staging.",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the full result as JSON.",
)
@click.option(
    "--plot",
    "plot_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a PNG of traces, events, bad channels and hypnogram.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def analyze(
    path: Path, analysis_type: str, json_out: Path | None, plot_out: Path | None, quiet: bool
) -> None:
    """Analyse one EDF/BDF/FIF recording and print a summary."""
    import json

    from tqdm import tqdm

    from connectors.settings import get_settings
    from processors.analyze import analyze as run_analysis
    from processors.errors import EEGError
    from processors.io import read_recording
    from schemas.document import result_document
    from streams.pipeline import build_options

    settings = get_settings()
    try:
        recording = read_recording(path)
    except EEGError as exc:
        click.echo(f"error ({exc.code}): {exc}", err=True)
        sys.exit(2)
    options = build_options(settings, recording.ch_names, analysis_type=analysis_type)
    with tqdm(total=100, desc="analyze", unit="%", disable=quiet, leave=False) as bar:

        def progress(stage: str, fraction: float) -> None:
            bar.set_description(stage)
            bar.update(max(0, round(100 * fraction) - bar.n))

        result = run_analysis(recording, analysis_type, options, progress=progress)
    payload = result_document(result.to_dict(), job_id=None, file_id=None)
    if json_out is not None:
        json_out.write_text(json.dumps(payload, indent=2))
    if plot_out is not None:
        from streams.plot import plot_result

        plot_result(recording, result, plot_out)
    click.echo(_summary(payload))
    if json_out is not None:
        click.echo(f"result written to {json_out}")
    if plot_out is not None:
        click.echo(f"plot written to {plot_out}")


def _summary(result: dict) -> str:
    rec = result["recording"]
    lines = [
        f"recording {result['recording_id']}: {rec['duration_s']:.1f} s, "
        f"{rec['n_channels']} EEG channels at {rec['sfreq_hz']:g} Hz"
        f" ({result['analysis_type']}, {result['duration_s']:.1f} s)",
    ]
    for stage in (
        "quality_report",
        "features",
        "abnormality_detection",
        "event_detection",
        "sleep_analysis",
    ):
        s = result[stage]
        detail = s.get("reason") or s.get("error") or ""
        body = s if s["status"] == "completed" else {}
        if stage == "quality_report" and body:
            detail = (
                f"score {body.get('signal_quality_score', 0):.2f}, "
                f"{'acceptable' if body.get('is_acceptable') else 'NOT acceptable'}, "
                f"bad channels: {', '.join(body.get('bad_channels') or []) or 'none'}"
            )
        elif stage == "abnormality_detection" and body:
            verdict = "abnormal" if body.get("is_abnormal") else "normal"
            detail = (
                f"{verdict}, confidence {body.get('confidence', 0):.2f}, "
                f"scorer {body.get('scorer')}"
            )
        elif stage == "event_detection" and body:
            counts = body.get("summaries", {}).get("counts", {})
            detail = ", ".join(f"{k}: {v}" for k, v in counts.items() if v) or "no events"
        elif stage == "sleep_analysis" and body:
            detail = f"sleep efficiency {body.get('sleep_efficiency_percent')} %"
        lines.append(f"  {stage:<22} {s['status']:<9} {detail}")
    lines.append(f"  triage priority: {result['triage_priority'].upper()}")
    return "\n".join(lines)


@main.group()
def bench() -> None:
    """Benchmarks that print figures (and write bench/results/*.json); nothing is asserted."""


def _run_bench_script(name: str, args: tuple[str, ...]) -> None:
    import os
    import subprocess

    script = Path(__file__).resolve().parent.parent / "bench" / f"bench_{name}.py"
    if not script.is_file():
        click.echo(f"error: {script} not found (benchmarks run from a source checkout)", err=True)
        sys.exit(2)
    env = {**os.environ, "PYTHONPATH": str(script.parent.parent)}
    sys.exit(subprocess.call([sys.executable, str(script), *args], env=env))


@bench.command("processors", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_processors(args: tuple[str, ...]) -> None:
    """Whole analyze of a 20-minute 19-channel recording: int8 vs fp32 EEGPT, stages, memory."""
    _run_bench_script("processors", args)


@bench.command("connectors", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_connectors(args: tuple[str, ...]) -> None:
    """One day of per-minute metrics inserted in bulk, and the hourly average with date_bin."""
    _run_bench_script("connectors", args)


@bench.command("eegpt", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_eegpt(args: tuple[str, ...]) -> None:
    """EEGPT windows per second, fp32 vs int8, and feature fidelity."""
    _run_bench_script("eegpt", args)


@bench.command("streams", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_streams(args: tuple[str, ...]) -> None:
    """Replay through Kafka vs analyze in one process; two workers; worker memory."""
    _run_bench_script("streams", args)


@bench.command("faults", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_faults(args: tuple[str, ...]) -> None:
    """The fault matrix: time to recover, lost and duplicated, per fault."""
    _run_bench_script("faults", args)


@bench.command("api", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_api(args: tuple[str, ...]) -> None:
    """REST API under a clinic's load (locust): p50/p95/p99; API and worker memory."""
    _run_bench_script("api", args)


@main.group()
def probe() -> None:
    """The abnormality probe: a linear classifier on EEGPT features."""


@probe.command("train")
@click.option(
    "--features-from",
    "source",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="CSV (path,label) or JSON manifest of EDF files labelled normal/abnormal, or a folder "
    "with manifest.csv/manifest.json or normal/ and abnormal/ subfolders.",
)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="probe.npz"
)
@click.option(
    "--test-fraction",
    default=0.25,
    show_default=True,
    type=click.FloatRange(0.0, 0.9),
    help="Share of each class's recordings held out for the reported metrics.",
)
@click.option("--stride-s", default=4.0, show_default=True, help="Step between windows (s).")
@click.option("--seed", default=0, show_default=True, help="Seed of the held-out split.")
def probe_train(source: Path, out: Path, test_fraction: float, stride_s: float, seed: int) -> None:
    """Extract EEGPT features of labelled recordings (configured checkpoint), train, save."""
    from connectors.settings import get_settings
    from processors.errors import EEGError
    from processors.features import load_eegpt
    from processors.probe import read_manifest, train_probe_on_recordings
    from streams.pipeline import eegpt_precision

    settings = get_settings()
    try:
        items = read_manifest(source)
        from processors.io import read_recording

        first = read_recording(items[0][0])
        extractor = load_eegpt(
            settings.model_checkpoint_path,
            ch_names=first.ch_names,
            allow_random_weights=settings.allow_random_weights,
            precision=eegpt_precision(settings),  # type: ignore[arg-type]
        )
        if extractor.weights_id == "random-dev":
            click.echo("warning: EEGPT has random weights (development only)", err=True)

        def progress(done: int, total: int, path: Path) -> None:
            click.echo(f"[{done}/{total}] features of {path.name}", err=True)

        trained = train_probe_on_recordings(
            items,
            extractor,
            test_fraction=test_fraction,
            seed=seed,
            stride_s=stride_s,
            progress=progress,
        )
    except EEGError as exc:
        click.echo(f"error ({exc.code}): {exc}", err=True)
        sys.exit(2)
    trained.save(out)
    train, held = trained.metrics["train"], trained.metrics["held_out"]
    click.echo(
        f"trained on {train['n_normal']} normal and {train['n_abnormal']} abnormal windows "
        f"(EEGPT weights {trained.weights_id}, {extractor.precision})"
    )
    if "balanced_accuracy" in held:
        click.echo(
            f"held-out ({held['n_recordings']} recordings, {held['n_normal']} normal / "
            f"{held['n_abnormal']} abnormal windows): balanced accuracy "
            f"{held['balanced_accuracy']:.3f}, AUROC {held['auroc']:.3f}"
        )
    else:
        click.echo(f"held-out: {held['reason']}")
    click.echo(f"probe written to {out}")


@main.group()
def db() -> None:
    """The results database: migrations and the Kafka-to-PostgreSQL sink."""


@db.command("migrate")
def db_migrate() -> None:
    """Apply the schema migrations that are not applied yet (safe to run twice)."""
    from connectors.db import DatabaseError
    from connectors.db.migrate import migrate
    from connectors.settings import get_settings

    try:
        report = migrate(get_settings().postgres_url)
    except DatabaseError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    applied = ", ".join(f"{v:04d}" for v in report.applied) or "none"
    click.echo(
        f"migrations applied now: {applied}; already applied: {len(report.already)} "
        f"({report.backend} time-series tables)"
    )


@db.command("sink")
def db_sink() -> None:
    """Consume eeg.results and eeg.detections into PostgreSQL until interrupted."""
    import asyncio
    import contextlib
    import logging
    import signal

    from connectors.db import DatabaseError
    from connectors.kafka_sink import ResultSink, SinkUnavailableError
    from connectors.settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    async def consume() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        async with ResultSink(get_settings()) as sink:
            click.echo(f"sink: consuming {', '.join(sink.topics)} (Ctrl-C to stop)")
            await sink.run(stop)
            click.echo(f"sink: stopped after {dict(sink.totals)}")

    try:
        asyncio.run(consume())
    except (DatabaseError, SinkUnavailableError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--type",
    "analysis_type",
    type=click.Choice(["quick", "screening", "comprehensive"]),
    default="screening",
    show_default=True,
    help="Analysis of every file.",
)
@click.option(
    "--speed",
    default="max",
    show_default=True,
    help="Times real time the files are fed into the stream (a number), or max.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=None,
    help="Stop following after this many seconds (default: until every job ends).",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def replay(
    paths: tuple[Path, ...], analysis_type: str, speed: str, timeout_s: float | None, quiet: bool
) -> None:
    """Replay EDF/BDF files (or folders of them) through Kafka and the worker.

    Each file is uploaded to the object store and registered as a job; the worker
    (`brrr worker`) reads it from there and streams it through its agents. Ends with each
    file's triage and events, read back from PostgreSQL.
    """
    import asyncio

    from connectors.settings import get_settings
    from streams.replay_view import run_replay

    if speed != "max":
        try:
            if float(speed) <= 0:
                raise ValueError
        except ValueError:
            raise click.BadParameter("a positive number or max", param_hint="--speed") from None
    code = asyncio.run(
        run_replay(
            get_settings(),
            list(paths),
            analysis_type=analysis_type,  # type: ignore[arg-type]
            speed=speed,
            timeout_s=timeout_s,
            quiet=quiet,
        )
    )
    sys.exit(code)


@main.command()
@click.option("--synthetic", is_flag=True, help="EEG from the synthetic generator.")
@click.option(
    "--file",
    "file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="EEG from an EDF/BDF file.",
)
@click.option("--loop", is_flag=True, help="With --file: start again at its end.")
@click.option(
    "--event",
    "events",
    multiple=True,
    metavar="KIND@S[+D]",
    help="Synthetic event at S seconds (e.g. seizure@120, lpd@300+20); repeatable.",
)
@click.option("--count", default=1, show_default=True, help="Devices, each its own recording.")
@click.option(
    "--seconds",
    type=float,
    default=None,
    help="Stream this long (default: until Ctrl-C; a synthetic device needs it).",
)
@click.option("--speed", type=float, default=1.0, show_default=True, help="Times real time.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the synthetic EEG.")
@click.option("--gap-at", type=float, default=None, help="Lose the segments from this second...")
@click.option("--gap-s", type=float, default=5.0, show_default=True, help="...for this long.")
@click.option("--reconnect-at", type=float, default=None, help="Drop the connection here (3 s).")
@click.option("--duplicate-every", type=int, default=0, help="Send every Nth segment twice.")
@click.option("--reorder-every", type=int, default=0, help="Send every Nth segment late.")
@click.option("--flat-channel", default=None, help="Make this channel flat (from --bad-from).")
@click.option("--nan-channel", default=None, help="Make this channel NaN (lead off).")
@click.option("--bad-from", type=float, default=0.0, show_default=True, help="Second of the fault.")
def device(
    synthetic: bool,
    file: Path | None,
    loop: bool,
    events: tuple[str, ...],
    count: int,
    seconds: float | None,
    speed: float,
    seed: int,
    gap_at: float | None,
    gap_s: float,
    reconnect_at: float | None,
    duplicate_every: int,
    reorder_every: int,
    flat_channel: str | None,
    nan_channel: str | None,
    bad_from: float,
) -> None:
    """Simulate bedside monitors streaming live EEG into Kafka, in 1 s segments."""
    import asyncio

    from connectors.settings import get_settings
    from streams.device import DeviceSpecError, Misbehaviour
    from streams.device_run import run_devices

    if synthetic == (file is not None):
        raise click.UsageError("give one of --synthetic or --file")
    faults = Misbehaviour(
        gap_at_s=gap_at,
        gap_s=gap_s,
        reconnect_at_s=reconnect_at,
        duplicate_every=duplicate_every,
        reorder_every=reorder_every,
        flat_channel=flat_channel,
        nan_channel=nan_channel,
        bad_from_s=bad_from,
    )
    try:
        sent, _recordings = asyncio.run(
            run_devices(
                get_settings(),
                file=file,
                loop=loop,
                events=events,
                count=count,
                seconds=seconds,
                speed=speed,
                seed=seed,
                faults=faults,
            )
        )
    except DeviceSpecError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sent = None
    click.echo(f"devices stopped{f' after {sent} segments' if sent is not None else ''}")


@main.group()
def alerts() -> None:
    """Urgent alerts of live recordings."""


@alerts.command("follow")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of readable lines.")
@click.option("--recording", "recording_id", default=None, help="Only this recording's alerts.")
@click.option("--from-beginning", is_flag=True, help="Every alert kept, then the new ones.")
def alerts_follow(as_json: bool, recording_id: str | None, from_beginning: bool) -> None:
    """Print each urgent alert as it arrives (Ctrl-C to stop)."""
    from connectors.settings import get_settings
    from streams.alerts import alert_json, follow_alerts, format_alert

    try:
        for alert in follow_alerts(
            get_settings(), recording_id=recording_id, from_beginning=from_beginning
        ):
            click.echo(alert_json(alert) if as_json else format_alert(alert))
    except KeyboardInterrupt:
        pass


@main.command("worker")
@click.option(
    "--no-sink",
    is_flag=True,
    help="Do not run the result sink in this process (run `brrr db sink`).",
)
@click.option("--loglevel", default="INFO", show_default=True, help="Log level of the worker.")
def worker_command(no_sink: bool, loglevel: str) -> None:
    """Run the stream worker (Faust agents and the result sink) until interrupted."""
    import logging

    from connectors.db.migrate import migrate
    from connectors.settings import get_settings
    from streams.worker import run_worker

    logging.basicConfig(level=loglevel, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = get_settings()
    try:
        migrate(settings.postgres_url)
    except Exception as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    run_worker(settings, with_sink=not no_sink, loglevel=loglevel)


@main.command("api")
@click.option("--host", default=None, help="Address to listen on (default: BRRR_API_HOST).")
@click.option("--port", type=int, default=None, help="Port (default: BRRR_API_PORT).")
def api_command(host: str | None, port: int | None) -> None:
    """Serve the REST API (jobs, results, detections, metrics, /health) with uvicorn."""
    import uvicorn

    from api.app import create_app
    from connectors.settings import get_settings

    settings = get_settings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_level="info",
    )


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the demo EDF files go (default: <data_dir>/demo).",
)
def demo(out_dir: Path | None) -> None:
    """Start the stack and run EEG through analysis and Kafka to results in PostgreSQL."""
    from connectors.settings import get_settings
    from connectors.stack import StackError, up
    from streams.demo import run_demo

    settings = get_settings()
    try:
        up(settings)
    except StackError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    run_demo(settings, out_dir or settings.data_dir / "demo")


main.add_command(users)
main.add_command(phi)

if __name__ == "__main__":
    main()
