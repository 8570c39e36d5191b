"""What the benchmarks share; each benchmark (``python -m bench.NAME``) imports only these,
never another benchmark.

- ``stack``: FerretDB and Redis in a temporary folder, settings, the children's environment;
- ``cluster``: several ``enclave serve`` children, tenants for them, their ``/metrics``;
- ``data``: employee values, the benchmarks' tenant, seeding records in their stored form;
- ``measure``: the load loop, latency figures, the machine, the shared ``main``;
- ``floor``: the read-path floor through the raw driver (``python -m bench.support.floor``
  serves it over HTTP);
- ``workload`` and ``verify``: the mixed load of ``bench.load`` and the check that every
  acknowledged write is stored; ``page``: docs/RELIABILITY.md's sections;
- ``read_profile`` (``bench.read_path --profile``) and ``scale_records`` (``bench.scale``'s
  second part).
"""
