"""README's error table, schema/errors.py and its drawn class tree say the same thing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from schema import errors
from schema.errors import EnclaveError

README = Path(__file__).resolve().parent.parent / "README.md"
_ROW = re.compile(r"^\| `(?P<code>[A-Z_]+)` \| (?P<http>[0-9, ]+) \| ")
_NODE = re.compile(r"^(?P<prefix>[ │├└─]*)(?P<name>\w+Error) +(?P<code>[A-Z_]+) +(?P<http>\d+)")


def error_classes() -> list[type[EnclaveError]]:
    return [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, EnclaveError)]


def module_codes() -> dict[str, set[int]]:
    """Each code in schema/errors.py with the HTTP statuses of its classes."""
    codes: dict[str, set[int]] = {}
    for cls in error_classes():
        codes.setdefault(cls.code, set()).add(cls.http_status)
    return codes


def table_codes(readme: str) -> dict[str, set[int]]:
    """Each code in README's error table (the one under ``### Errors``) with its statuses."""
    section = readme.split("\n### Errors\n", 1)[1].split("\n#", 1)[0]
    codes: dict[str, set[int]] = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            row = _ROW.match(line)
            assert row is not None, f"an error table row without an HTTP status: {line[:60]}"
            assert row["code"] not in codes, f"{row['code']} is in the table twice"
            codes[row["code"]] = {int(s) for s in row["http"].split(",")}
    return codes


def test_every_code_is_in_the_readme_table_with_its_status() -> None:
    module, table = module_codes(), table_codes(README.read_text())
    assert sorted(set(module) - set(table)) == [], "codes missing from README's error table"
    assert sorted(set(table) - set(module)) == [], "README's table has codes no class has"
    assert {c: s for c, s in table.items() if module[c] != s} == {}, (
        f"statuses differ from schema/errors.py: {module}"
    )


def test_a_missing_row_fails() -> None:
    readme = README.read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `GONE` |"))
    assert "GONE" not in table_codes(readme.replace(row + "\n", ""))


def drawn_tree() -> dict[str, tuple[str | None, str, int]]:
    """Each class drawn in schema/errors.py's docstring: its parent, code and status."""
    drawn: dict[str, tuple[str | None, str, int]] = {}
    stack: list[tuple[int, str]] = []  # (column, name) of the classes above
    for line in (errors.__doc__ or "").splitlines():
        node = _NODE.match(line)
        if node is None:
            continue
        column = len(node["prefix"])
        while stack and stack[-1][0] >= column:
            stack.pop()
        drawn[node["name"]] = (stack[-1][1] if stack else None, node["code"], int(node["http"]))
        stack.append((column, node["name"]))
    return drawn


@pytest.mark.parametrize("cls", error_classes(), ids=lambda c: c.__name__)
def test_the_docstring_draws_every_class_with_its_parent_code_and_status(
    cls: type[EnclaveError],
) -> None:
    assert cls.__name__ in errors.__all__
    parent = cls.__mro__[1]
    expected = (None if parent is Exception else parent.__name__, cls.code, cls.http_status)
    assert drawn_tree().get(cls.__name__) == expected
