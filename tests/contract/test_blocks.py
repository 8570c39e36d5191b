"""BlockStore: principals a breach containment blocked, and since when; a block changed or
deleted behind the gateway's back blocks its principal for good (until blocked again)."""

from __future__ import annotations

import datetime as dt

from storage.contract.blocks import FOREVER, BlockStore
from tests.contract.contracts import covers
from tests.contract.data import entries
from tests.contract.tamper import Tamper
from tests.contract.tenants import Tenant


def _at(minutes: int = 0) -> dt.datetime:
    at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    return at.replace(microsecond=at.microsecond // 1000 * 1000)  # as stored


@covers(BlockStore.block, BlockStore.all)
async def test_blocks_are_audited_and_a_later_one_replaces_an_earlier(tenant: Tenant) -> None:
    blocks = tenant.handle.blocks
    assert await blocks.all() == {}
    before, at = await entries(tenant.handle), _at()
    await blocks.block(["user:idp|x", "api_key:k1", "user:idp|x"], at, "i1", tenant.actor)
    assert await entries(tenant.handle) == before + 2  # one audited write each
    assert await blocks.all() == {"user:idp|x": at, "api_key:k1": at}
    later = _at(5)
    await blocks.block(["user:idp|x"], later, "i2", tenant.actor)
    assert await blocks.all() == {"user:idp|x": later, "api_key:k1": at}


async def test_a_changed_block_fails_closed_and_a_deleted_one_is_gone(
    tenant: Tenant, tamper: Tamper
) -> None:
    """The store sees what its documents hold: an edited one blocks for ever, a deleted one
    is not there (the gateway keeps blocks outside the database too: tests/test_principal_
    blocks.py)."""
    blocks, at = tenant.handle.blocks, _at()
    await blocks.block(["user:a", "user:b", "user:c"], at, "i1", tenant.actor)
    await tamper.document(tenant.info.id, "principal_blocks", "user:a")
    await tamper.drop_document(tenant.info.id, "principal_blocks", "user:b")
    assert await blocks.all() == {"user:a": FOREVER, "user:c": at}
    again = _at(1)
    await blocks.block(["user:a", "user:b"], again, "i2", tenant.actor)  # contained again
    assert await blocks.all() == {"user:a": again, "user:b": again, "user:c": at}


async def test_an_older_block_put_back_reads_as_it_was(tenant: Tenant, tamper: Tamper) -> None:
    """A copy put back keeps its MAC: the store answers its time (the gateway's copy of the
    later block, outside the database, is what refuses the tokens between the two)."""
    blocks, first = tenant.handle.blocks, _at()
    await blocks.block(["user:r"], first, "i1", tenant.actor)
    older = await tamper.copy_document(tenant.info.id, "principal_blocks", "user:r")
    await blocks.block(["user:r"], _at(1), "i2", tenant.actor)
    await tamper.put_back(tenant.info.id, "principal_blocks", older)  # its MAC holds
    assert await blocks.all() == {"user:r": first}
