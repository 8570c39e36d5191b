"""A report definition checked against the datasheet and the caller's policy.

``plan_report`` turns a definition (plain data, as given or as saved) into the storage's
``ReportQuery``, or refuses it:

- ``BAD_USER_INPUT`` naming the field: unknown datasheet or field, a ``SUM``/``AVG``/
  ``MIN``/``MAX`` over a field that is not a number (dates included), a time bucket over a
  field that is not a stored-plain date, grouping by a randomly encrypted field. Grouping
  needs equality, which randomized ciphertext does not have; streaming and decrypting
  every value would cost a decryption per record and make the names, birth dates and
  free text kept that way groupable, which no report needs: refused, not streamed.
- ``FORBIDDEN`` unless one of the caller's roles may report on the datasheet, and each
  grouped, bucketed, measured or filtered field is fully readable (not masked, not
  forbidden) under a role that may report; ``extensions.field`` names the field.

The rows are those on which every one of those fields is readable by a reporting role
(the same row scope as the read plan, resolvers.authz.scopes), so the caller's row filter applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from resolvers.authz.policy import Policy, SheetPolicy
from resolvers.authz.scopes import read_plan
from resolvers.exports import filter_value
from schema.datasheets import DATASHEETS, Datasheet, FieldType, Sensitivity
from schema.errors import BadUserInputError, ForbiddenError
from storage.values import ReportQuery, Value

__all__ = ["MAX_GROUPS", "Definition", "Planned", "key_names", "labels", "plan_report"]

MAX_GROUPS = 1000
_MAX_GROUP_BY = 3
_MAX_MEASURES = 10
OPS = ("COUNT", "SUM", "AVG", "MIN", "MAX")
UNITS = ("MONTH", "QUARTER", "YEAR")


@dataclass(frozen=True, slots=True)
class Definition:
    """What a report asks for, as plain data (saved definitions store ``as_dict``)."""

    datasheet: str
    group_by: tuple[str, ...] = ()
    measures: tuple[tuple[str, str | None], ...] = ()
    bucket: tuple[str, str] | None = None
    filter: tuple[tuple[str, str], ...] = ()
    include_archived: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "datasheet": self.datasheet,
            "groupBy": list(self.group_by),
            "measures": [{"op": op, "field": name} for op, name in self.measures],
            "timeBucket": None
            if self.bucket is None
            else {"field": self.bucket[0], "unit": self.bucket[1]},
            "filter": [{"field": f, "value": v} for f, v in self.filter],
            "includeArchived": self.include_archived,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Definition:
        bucket = data.get("timeBucket")
        return cls(
            datasheet=str(data["datasheet"]),
            group_by=tuple(data.get("groupBy") or ()),
            measures=tuple((m["op"], m.get("field")) for m in data.get("measures") or ()),
            bucket=None if not bucket else (bucket["field"], bucket["unit"]),
            filter=tuple((f["field"], f["value"]) for f in data.get("filter") or ()),
            include_archived=bool(data.get("includeArchived")),
        )

    @property
    def fields(self) -> list[str]:
        """Every field the report reads, in order, once."""
        named = [*self.group_by, *(self.bucket or ())[:1]]
        named += [n for _, n in self.measures if n] + [f for f, _ in self.filter]
        return list(dict.fromkeys(named))


@dataclass(frozen=True, slots=True)
class Planned:
    sheet: Datasheet
    query: ReportQuery
    ops: tuple[str, ...]


def _bad(message: str, name: str) -> BadUserInputError:
    return BadUserInputError(message, field=name)


def _field(sheet: Datasheet, name: str) -> None:
    if name not in sheet.by_name:
        raise _bad(f"{sheet.name} has no field {name!r}", name)


def _check_shape(sheet: Datasheet, d: Definition) -> None:
    if len(d.group_by) > _MAX_GROUP_BY:
        raise _bad(f"a report groups by at most {_MAX_GROUP_BY} fields", "groupBy")
    if len(set(d.group_by)) != len(d.group_by):
        raise _bad("a field appears twice in groupBy", "groupBy")
    if len(d.measures) > _MAX_MEASURES:
        raise _bad(f"a report has at most {_MAX_MEASURES} measures", "measures")
    for name in d.group_by:
        _field(sheet, name)
        if sheet.by_name[name].sensitivity is Sensitivity.RANDOM:
            raise _bad(
                f"cannot group by {name}: it is encrypted at random, so equal values do not "
                "look equal; group by a plaintext or equality-searchable field",
                name,
            )
    if d.bucket is not None:
        date, unit = d.bucket
        _field(sheet, date)
        declared = sheet.by_name[date]
        if declared.type is not FieldType.DATE or declared.sensitivity is not Sensitivity.PLAINTEXT:
            raise _bad(f"a time bucket needs a plaintext date field; {date} is not one", date)
        if unit not in UNITS:
            raise _bad(f"unknown time unit {unit!r}", "timeBucket")
    for op, measured in d.measures:
        if op not in OPS:
            raise _bad(f"unknown measure {op!r}", "measures")
        if measured is None:
            if op != "COUNT":
                raise _bad(f"{op} needs a field", "measures")
            continue
        _field(sheet, measured)
        if op != "COUNT" and sheet.by_name[measured].type is not FieldType.INT:
            raise _bad(f"{op} needs a number field; {measured} is not one", measured)


def _reporting(grant: SheetPolicy) -> SheetPolicy:
    """The datasheet policy made only of the caller's roles that may report on it."""
    grants = tuple(g for g in grant.grants if g.report)
    read = frozenset().union(*(g.read for g in grants))
    return replace(
        grant, read=read, mask=frozenset().union(*(g.mask for g in grants)) - read, grants=grants
    )


def plan_report(policy: Policy, d: Definition, caller: str) -> Planned:
    """The query of *d* for a caller with *policy*, or the error that refuses it."""
    sheet = DATASHEETS.get(d.datasheet)
    if sheet is None:
        raise _bad(f"unknown datasheet {d.datasheet!r}", "datasheet")
    _check_shape(sheet, d)
    grant = policy.sheet(sheet.name)
    if grant is None or not any(g.report for g in grant.grants):
        raise ForbiddenError(f"you may not run reports on {sheet.name}", field=sheet.name)
    reporting = _reporting(grant)
    for name in d.fields:
        if name not in reporting.read:
            field = f"{sheet.type_name}.{name}"
            how = "masked for" if name in reporting.mask else "not readable by"
            raise ForbiddenError(f"{field} is {how} you; reports need it in full", field=field)
    equals: dict[str, Value] = {}
    for name, text in d.filter:
        if name in equals:
            raise _bad(f"{name} appears twice in the filter", "filter")
        equals[name] = filter_value(sheet, name, text)
    plan = read_plan(sheet, reporting, (), caller, full=d.fields)
    query = ReportQuery(
        group_by=d.group_by,
        measures=d.measures,
        bucket=d.bucket,
        equals=equals,
        scope=plan.scope,
        include_archived=d.include_archived,
        max_groups=MAX_GROUPS,
    )
    return Planned(sheet, query, tuple(op for op, _ in d.measures))


def labels(d: Definition) -> list[str]:
    """Column names of the measures: ``COUNT``, ``SUM(salary)``…"""
    return [op if name is None else f"{op}({name})" for op, name in d.measures]


def key_names(d: Definition) -> list[str]:
    """Column names of the keys: the group-by fields, then ``startDate:MONTH``."""
    return [*d.group_by, *([f"{d.bucket[0]}:{d.bucket[1]}"] if d.bucket else [])]
