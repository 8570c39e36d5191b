"""What changed between two versions of a role, datasheet by datasheet."""

from __future__ import annotations

from schema.grants import SheetDiff
from schema.roles import FIELD_LISTS, FLAGS, RoleDefinition, SheetGrant

__all__ = ["role_diff"]


def _sheet_diff(name: str, before: SheetGrant, after: SheetGrant) -> SheetDiff | None:
    """The diff of one datasheet's grant, None if nothing differs."""
    changed = [flag for flag in FLAGS if getattr(before, flag) != getattr(after, flag)]
    if before.row_filter != after.row_filter:
        changed.append("rowFilter")
    lists: dict[str, list[str]] = {}
    for kind in FIELD_LISTS:
        old, new = getattr(before, kind), getattr(after, kind)
        lists[f"gained_{kind}"] = sorted(new - old)
        lists[f"lost_{kind}"] = sorted(old - new)
    if not changed and not any(lists.values()):
        return None
    return SheetDiff(datasheet=name, changed=changed, **lists)


def role_diff(before: RoleDefinition | None, after: RoleDefinition | None) -> list[SheetDiff]:
    """The datasheets whose grant differs between *before* and *after* (None: the role did
    not exist, or was deleted), in name order."""
    empty = SheetGrant()
    sheets_before = before.sheets if before else {}
    sheets_after = after.sheets if after else {}
    diffs = (
        _sheet_diff(name, sheets_before.get(name, empty), sheets_after.get(name, empty))
        for name in sorted(set(sheets_before) | set(sheets_after))
    )
    return [d for d in diffs if d is not None]
