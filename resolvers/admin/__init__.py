"""Role, user and API key management over GraphQL: admins only (``ADMIN_FIELDS``).

- ``roles``: roles and their versions; ``rolediff``: what changed between two versions;
- ``users``: users and what each may do (``permissions``);
- ``apikeys``: API keys for integrators.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import strawberry

from resolvers.admin.apikeys import ApiKeyMutation, ApiKeyQuery
from resolvers.admin.roles import RoleMutation, RoleQuery
from resolvers.admin.users import UserMutation, UserQuery

__all__ = ["AdminMutation", "AdminQuery"]


@strawberry.type
class AdminQuery(RoleQuery, ApiKeyQuery, UserQuery):
    """The admin root fields of ``Query``."""


@strawberry.type
class AdminMutation(RoleMutation, ApiKeyMutation, UserMutation):
    """The admin root fields of ``Mutation``."""
