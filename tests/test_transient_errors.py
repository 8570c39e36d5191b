"""Server answers that mean "not now" reach the caller as ``REGION_UNAVAILABLE`` (try again
shortly; not kept by idempotency, so a retry runs again), not as ``INTERNAL``: what a
tenant's requests get while ``movePrimary`` moves its database to another shard, or while a
replica set (or a shard behind mongos) changes primary or has none. FerretDB answers none
of these, so the driver's own exceptions are raised here, as a server behind mongos makes
PyMongo raise them."""

from __future__ import annotations

import logging

import pytest
from pymongo.errors import OperationFailure, WriteError

from schema.errors import EnclaveError, RegionUnavailableError
from storage.mongo.errors import mongo_errors

SECRET = "alice@example.org"


@pytest.mark.parametrize(
    "error",
    [
        # A shard refusing a write to a database movePrimary is moving.
        WriteError(f"MovePrimaryInProgress {SECRET}", code=319, details={"code": 319}),
        # A primary stepping down in one shard, relayed by mongos.
        OperationFailure(f"stepped down {SECRET}", code=189),
        OperationFailure(f"not primary {SECRET}", code=10107),
        # mongos finding no primary in the tenant's shard.
        OperationFailure(f"no primary {SECRET}", code=133),
        # Whatever the server labels retryable, after the driver's own retry.
        OperationFailure(
            f"retry {SECRET}", code=262, details={"errorLabels": ["RetryableWriteError"]}
        ),
    ],
    ids=["move-primary", "stepped-down", "not-primary", "shard-down", "labelled"],
)
def test_transient_server_errors_are_region_unavailable(
    error: OperationFailure, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="enclave.storage")
    with pytest.raises(RegionUnavailableError) as caught, mongo_errors("eu"):
        raise error
    assert caught.value.code == "REGION_UNAVAILABLE"
    assert "EU" in str(caught.value)
    assert SECRET not in str(caught.value)
    # The operator sees the code (319 says a move is under way), never the server's text.
    assert f"code={error.code}" in caplog.text
    assert SECRET not in caplog.text


def test_other_server_errors_stay_internal(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(EnclaveError) as caught, mongo_errors("us"):
        raise OperationFailure(f"bad value {SECRET}", code=2)
    assert not isinstance(caught.value, RegionUnavailableError)
    assert caught.value.code == "INTERNAL"
    assert SECRET not in caplog.text
