"""Idempotent retries (:mod:`gateway.idempotency`): a mutation sent with an
``Idempotency-Key`` runs once per key; a retry gets the first answer (``Idempotent-Replayed:
true``). Only mutations: a read is repeated, never replayed."""

from __future__ import annotations

import hashlib

import orjson
from graphql import GraphQLError, OperationType, parse
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.idempotency import IdempotencyStore, did_not_happen
from gateway.middleware.base import BODY, POLICY, PRINCIPAL
from gateway.refusals import error_response
from resolvers.documents import operation_of
from schema.errors import EnclaveError
from storage.base import Store

__all__ = ["Idempotency"]


def _is_mutation(body: bytes, max_tokens: int) -> bool:
    """Whether the operation a (checked) request body runs is a mutation."""
    request = orjson.loads(body)
    try:
        document = parse(request["query"], max_tokens=max_tokens)
    except GraphQLError:
        return False
    operation = operation_of(document, request.get("operationName"))
    return operation is not None and operation.operation is OperationType.MUTATION


class Idempotency:
    def __init__(self, app: ASGIApp, keys: IdempotencyStore, store: Store, max_tokens: int) -> None:
        self.app = app
        self.keys = keys
        self.store = store
        self.max_tokens = max_tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = Headers(scope=scope).get("idempotency-key")
        if key is None or not _is_mutation(BODY.of(scope), self.max_tokens):
            await self.app(scope, receive, send)
            return
        principal, body = PRINCIPAL.of(scope), BODY.of(scope)
        # An answer is never replayed to a caller whose permissions changed since.
        fingerprint = hashlib.sha256(repr(POLICY.of(scope).key).encode()).hexdigest()
        store = self.store.for_tenant(principal.tenant_id)
        try:
            stored = await self.keys.claim(principal, key, body, fingerprint)
            if stored is not None:
                answer = await store.documents.decrypt(stored.ciphertext)
                replayed = Response(
                    answer["body"].encode(),
                    status_code=stored.status,
                    media_type="application/json",
                    headers={"idempotent-replayed": "true"},
                )
                await replayed(scope, receive, send)
                return
        except EnclaveError as exc:
            await error_response(exc)(scope, receive, send)
            return
        status, chunks = 500, list[bytes]()

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capture)
            result = b"".join(chunks)
            if status != 200 or did_not_happen(result):
                await self.keys.release(principal, key)
                return
            sealed = await store.documents.encrypt({"body": result.decode()})
            await self.keys.complete(principal, key, body, status, sealed, fingerprint)
        except BaseException:
            await self.keys.release(principal, key)
            raise
