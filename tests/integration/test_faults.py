"""The fault matrix (issue 11): each fault injected while a replay, a live device and API
traffic run; nothing lost, nothing duplicated, and the time to recover printed.

The harness is ``tests/integration/fault_matrix.py``; ``brrr bench faults`` runs the same
matrix and prints the table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.settings import Settings
from tests.integration.fault_matrix import FAULTS, run_fault

pytestmark = pytest.mark.integration
session_loop = pytest.mark.asyncio(loop_scope="session")


@session_loop
@pytest.mark.parametrize("fault_key", list(FAULTS))
async def test_fault_loses_and_duplicates_nothing(
    stack: Settings, fault_key: str, tmp_path: Path
) -> None:
    if stack.stack_mode != "local":
        pytest.skip("faults are injected into the local stack's own servers")
    outcome = await run_fault(stack, FAULTS[fault_key], tmp_path, say=print)
    print(f"fault matrix: {outcome.row()}")
    assert outcome.problems == (), "\n".join(outcome.problems)
    assert outcome.lost == 0 and outcome.duplicated == 0
    assert outcome.recovery_s is not None, "the pipeline did not move again after the fault"
