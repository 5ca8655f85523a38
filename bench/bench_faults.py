"""The fault matrix of the reliability issue as a benchmark: each fault injected while a
replay, a live device and API traffic run, then a table of fault, time to recover, and what
was lost or duplicated (windows, detections, alerts, job results).

The harness is the tests' (``tests/integration/fault_matrix.py``); the tests assert nothing
lost or duplicated, this prints the figures. ``--outage-s`` and ``--replay-minutes`` make
longer soaks than the tests run. The stack must be up (``brrr stack up``); each fault runs in
a Kafka namespace of its own and leaves the stack whole. Figures go to stdout and
``bench/results/faults.json``.

Usage: ``python bench/bench_faults.py [--faults kafka_stopped,redis_down] [--outage-s 30]
[--replay-minutes 4] [--repeat 1]``
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import tempfile
import time
from pathlib import Path

from connectors.settings import get_settings
from connectors.stack import up
from tests.integration.fault_matrix import FAULTS, FaultOutcome, WorkloadSpec, run_fault

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated, of: "
                        + ", ".join(FAULTS))  # fmt: skip
    parser.add_argument("--outage-s", type=float, default=30.0)
    parser.add_argument("--replay-minutes", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each fault")
    args = parser.parse_args()
    keys = [k.strip() for k in args.faults.split(",") if k.strip()]
    unknown = [k for k in keys if k not in FAULTS]
    if unknown:
        parser.error(f"unknown faults {unknown}; choose from {', '.join(FAULTS)}")
    spec = WorkloadSpec(outage_s=args.outage_s, replay_minutes=args.replay_minutes)
    settings = get_settings()
    up(settings)
    t0 = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - t0:6.0f} s] {line}", flush=True)

    outcomes: list[FaultOutcome] = []
    for key in keys:
        for i in range(args.repeat):
            say(f"{FAULTS[key].name} (run {i + 1} of {args.repeat})")
            with tempfile.TemporaryDirectory(prefix="brrr-faults-") as tmp:
                outcome = asyncio.run(run_fault(settings, FAULTS[key], Path(tmp), spec, say))
            outcomes.append(outcome)
            say(outcome.row())
            for problem in outcome.problems:
                say(f"  problem: {problem}")
    RESULTS_DIR.mkdir(exist_ok=True)
    figures = {
        "workload": dataclasses.asdict(spec),
        "outcomes": [dataclasses.asdict(o) for o in outcomes],
    }
    (RESULTS_DIR / "faults.json").write_text(json.dumps(figures, indent=2))
    print()
    print(f"{'fault':<34} {'recovery':>14} {'lost':>5} {'duplicated':>11}")
    for outcome in outcomes:
        print(outcome.row())
    print(f"written to {RESULTS_DIR / 'faults.json'}")


if __name__ == "__main__":
    main()
