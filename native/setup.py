"""Builds the C extension ``enclave_native._hooks`` against the system OpenSSL (libcrypto).

Needs a C compiler and OpenSSL 3 headers (Debian: ``gcc libssl-dev``; ``scripts/bootstrap``
installs them when missing). Hardened: fortify, stack protector, warnings as errors.

``optional=True``: if it does not compile, the package installs without it and the gateway
runs on pymongocrypt's stock callbacks, saying so in its log, ``/readyz`` and ``/metrics``
(``uv sync --reinstall-package enclave-native`` builds it again once the compiler is there).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "enclave_native._hooks",
            sources=["src/enclave_native/_hooks.c"],
            libraries=["crypto"],
            optional=True,
            extra_compile_args=[
                "-std=c11",
                "-O2",
                "-U_FORTIFY_SOURCE",
                "-D_FORTIFY_SOURCE=2",
                "-fstack-protector-strong",
                "-fno-strict-aliasing",
                "-Wall",
                "-Wextra",
                "-Wconversion",
                "-Werror",
            ],
            extra_link_args=["-Wl,-z,relro,-z,now", "-Wl,-z,noexecstack"],
        )
    ]
)
