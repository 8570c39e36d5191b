"""libmongocrypt's crypto hooks in C over the system OpenSSL (see ``_hooks.c``).

``hook_addresses()`` gives each hook's address, to be cast to pymongocrypt's cffi
function-pointer types; ``bind_status_setter(address)`` must be given the address of the
loaded libmongocrypt's ``mongocrypt_status_set`` before any hook is registered, so that a
refused call carries a message.
"""

from __future__ import annotations

from enclave_native._hooks import bind_status_setter, calls, hook_addresses, openssl_version

__all__ = ["bind_status_setter", "calls", "hook_addresses", "openssl_version"]
