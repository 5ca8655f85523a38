"""Fixtures for tests against the real services of the local stack.

Any integration test asks for ``stack``: the first one brings the stack up (``brrr stack up``,
idempotent: seconds when it is already running) and every test gets the settings that point at
it. With ``BRRR_STACK_MODE=external`` nothing is started; the servers at the configured URLs
are only checked. Mark such tests with ``pytest.mark.integration``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from connectors.settings import Settings, get_settings
from connectors.stack import up


@pytest.fixture(scope="session")
def stack() -> Iterator[Settings]:
    """The settings of a running stack (started here if needed, left running afterwards)."""
    settings = get_settings()
    up(settings)
    yield settings


@pytest.fixture
def unique_name() -> str:
    """A name no earlier run used (topics, buckets, tables), so re-runs never collide."""
    return f"it-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(stack: Settings, unique_name: str) -> Settings:
    """The stack's settings in a Kafka namespace of the test's own (stream worker tests)."""
    from tests.integration.workers import stream_settings

    return stream_settings(stack, unique_name)


@pytest.fixture
def workers(settings: Settings, tmp_path):
    """``brrr worker`` processes in the test's namespace, all stopped at its end."""
    from tests.integration.workers import workers_for

    yield from workers_for(settings, tmp_path)
