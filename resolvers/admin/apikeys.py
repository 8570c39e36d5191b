"""API keys for integrators over GraphQL: list, create, revoke (admins only).

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import strawberry
from strawberry.types import Info

from resolvers.admin.roles import admin
from schema.accounts import ApiKeyCreated, ApiKeyType
from schema.errors import BadUserInputError
from storage.values import ApiKey

__all__ = ["ApiKeyMutation", "ApiKeyQuery"]


def _api_key(k: ApiKey) -> ApiKeyType:
    return ApiKeyType(
        id=strawberry.ID(k.id),
        name=k.name,
        role=k.role,
        can_export=k.can_export,
        created_at=k.created_at,
        revoked=k.revoked,
        last_used_at=k.last_used_at,
    )


@strawberry.type
class ApiKeyQuery:
    @strawberry.field(description="Every API key of the tenant, with its last use.")
    async def api_keys(self, info: Info) -> list[ApiKeyType]:
        return [_api_key(k) for k in await admin(info).store.api_keys.all()]


@strawberry.type
class ApiKeyMutation:
    @strawberry.mutation(description="Create an API key for an integrator, scoped to one role.")
    async def create_api_key(
        self, info: Info, name: str, role: str, can_export: bool = False
    ) -> ApiKeyCreated:
        ctx = admin(info)
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise BadUserInputError("a key name has 1 to 100 characters", field="name")
        key, text = await ctx.store.api_keys.create(name, role, can_export, ctx.actor)
        return ApiKeyCreated(api_key=_api_key(key), key=text)

    @strawberry.mutation(description="Revoke an API key: it stops working at once everywhere.")
    async def revoke_api_key(self, info: Info, id: strawberry.ID) -> ApiKeyType:
        ctx = admin(info)
        return _api_key(await ctx.store.api_keys.revoke(str(id), ctx.actor))
