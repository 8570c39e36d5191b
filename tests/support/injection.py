"""What an operator injection looks like: strings and JSON objects MongoDB would read as
operators, field paths, patterns or code (tests/test_injection.py sends them where a value
goes; tests/test_fuzz.py mixes the strings into generated documents)."""

from __future__ import annotations

from typing import Any

__all__ = ["OPERATOR_OBJECTS", "OPERATOR_STRINGS"]

#: Strings that MongoDB would read as operators (as keys) or as field paths (in pipelines),
#: and strings that would match everything if they were read as patterns or code.
OPERATOR_STRINGS = (
    "$ne",
    "$where",
    "$regex",
    "$function",
    "$gt",
    "$exists",
    "$expr",
    "$or",
    "$department",
    ".*",
    "^",
    "this.a == this.a",
    "function() { return true; }",
    '{"$ne": null}',
    '{"$regex": ".*"}',
    '{"$where": "sleep(100)"}',
)

#: Operator objects as a client could send them in JSON variables.
OPERATOR_OBJECTS: tuple[Any, ...] = (
    {"$ne": None},
    {"$ne": "x"},
    {"$regex": ".*"},
    {"$gt": ""},
    {"$exists": True},
    {"$in": ["Engineering", "Sales"]},
    {"$where": "sleep(100)"},
    {"$where": "function() { return true; }"},
    {"$function": {"body": "function() { return true; }", "args": [], "lang": "js"}},
    {"$expr": {"$eq": [1, 1]}},
    ["$ne"],
    [{"$ne": None}],
)
