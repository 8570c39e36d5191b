"""Running Enclave on one machine: ``enclave dev`` (``run``), the local servers it, the tests
and the benchmarks start (``servers``), and the child-process handling under them all
(``processes``)."""
