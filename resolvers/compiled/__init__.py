"""Read operations over datasheets, compiled once per document and caller's policy.

A compiled operation knows, for each root field, the datasheet, the fields to fetch (the
same read plan the resolvers use: resolvers.reading) and a table of what to emit under
each response key; running it fetches the records and fills the tables, with no
graphql-core field resolution per value. No code is generated: the tables hold response
keys as data and getters chosen from a fixed set by schema names.

Anything the compiler does not handle is left to the standard executor: documents it does
not support (``UnsupportedDocumentError``, at compile time), and any request whose answer
would carry an error or a null where the schema forbids one (``FallbackError``, at run time:
reads are repeatable, so the standard executor runs the request again and answers it
exactly). Both live in resolvers.compiled.errors: control flow inside this package, never
raised out of it.
"""

from __future__ import annotations

from resolvers.compiled.execute import CompiledReads

__all__ = ["CompiledReads"]
