"""Fixtures shared by every test."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
REAL_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real recordings beside the project (``../shared/data/real``); never copied in."""
    if not REAL_DATA_DIR.is_dir():
        pytest.fail(f"real recordings not found at {REAL_DATA_DIR}: see ../shared/data/README.md")
    return REAL_DATA_DIR
