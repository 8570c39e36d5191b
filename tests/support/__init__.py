"""What the tests share: clients and tenants (``client``), the servers (``servers``), GraphQL
documents and factories (``employees``, ``roles``, ``signins``, ``exports``), reading the
databases as an operator would (``raw``), the CLI as a child process (``operator``),
gateways as child processes (``gateways``), and generators for the differential tests
(``differential``, ``ferretdb_ops``). Tests import these, never ``conftest`` or each other
(tests/test_layout.py checks it)."""
