"""The layout of the tests and the benchmarks: tests share code through ``tests.support``
only, so that no test module depends on another or on ``conftest`` (pytest loads those
itself); benchmarks share code through ``bench.support`` only, never importing another
benchmark."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
BENCH = TESTS.parent / "bench"


def _imported(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            sep = "" if base.endswith(".") else "."
            names += [base, *(f"{base}{sep}{alias.name}" for alias in node.names)]
    return names


def _forbidden(name: str) -> bool:
    parts = name.lstrip(".").split(".")
    if parts[0] == "tests":
        parts = parts[1:]
    return bool(parts) and (parts[0] == "conftest" or parts[0].startswith("test_"))


def test_no_test_imports_conftest_or_another_test_module() -> None:
    found = [
        f"{path.relative_to(TESTS)} imports {name}"
        for path in sorted(TESTS.rglob("*.py"))
        for name in _imported(ast.parse(path.read_text(), str(path)))
        if _forbidden(name)
    ]
    assert not found, "\n".join(found)


def test_the_check_sees_such_imports() -> None:
    tree = ast.parse(
        "from tests.conftest import Tenant\nfrom tests.test_cli import x\n"
        "import tests.test_exports\nfrom . import conftest\nfrom tests.support.client import T\n"
    )
    assert [n for n in _imported(tree) if _forbidden(n)] == [
        "tests.conftest",
        "tests.conftest.Tenant",
        "tests.test_cli",
        "tests.test_cli.x",
        "tests.test_exports",
        ".conftest",
    ]


def test_no_benchmark_imports_another() -> None:
    benchmarks = {p.stem for p in BENCH.glob("*.py") if p.stem != "__init__"}
    found = [
        f"{path.relative_to(BENCH.parent)} imports {name}"
        for path in sorted(BENCH.rglob("*.py"))
        for name in _imported(ast.parse(path.read_text(), str(path)))
        if name.startswith("bench.") and name.split(".")[1] in benchmarks
    ]
    assert not found, "\n".join(found)
