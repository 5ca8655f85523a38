"""``brrr phi``: the encrypted patient identities (:mod:`connectors.phi`)."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from connectors.phi import KeyRing


@click.group()
def phi() -> None:
    """Patient identifiers, encrypted in PostgreSQL under BRRR_PHI_KEYS."""


@phi.command("reseal")
@click.option(
    "--batch", default=500, show_default=True, help="Identities re-encrypted per transaction."
)
def phi_reseal(batch: int) -> None:
    """Re-encrypt under BRRR_PHI_ACTIVE_KEY every identity sealed under another key of
    BRRR_PHI_KEYS (key rotation); afterwards the old keys can leave BRRR_PHI_KEYS."""
    from connectors.db import DatabaseError
    from connectors.phi import KeyRing, PhiDecryptionError, PhiKeyError
    from connectors.settings import get_settings

    settings = get_settings()
    try:
        ring = KeyRing.from_settings(settings)
        total = asyncio.run(_reseal_all(settings.postgres_url, ring, batch))
    except (DatabaseError, PhiKeyError, PhiDecryptionError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"resealed {total} patient identities under key {ring.active}")


async def _reseal_all(postgres_url: str, ring: KeyRing, batch: int) -> int:
    """Reseal in committed batches until none is left; the count."""
    from connectors.db import connect
    from connectors.db.identities import reseal_identities

    total = 0
    async with await connect(postgres_url) as conn:
        while done := await reseal_identities(conn, ring, limit=batch):
            await conn.commit()
            total += done
    return total
