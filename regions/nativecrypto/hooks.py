"""The crypto hooks pymongocrypt hands to libmongocrypt: its stock Python callbacks or ours in C.

pymongocrypt's ``MongoCrypt`` registers the hooks named in its module's globals
(``pymongocrypt.mongocrypt.aes_256_cbc_encrypt`` and so on) with
``mongocrypt_setopt_crypto_hooks`` when it is constructed, each ``mongocrypt_t`` keeping the
ones it was given. So the choice is per ``MongoCrypt`` instance, made by what those globals
hold at construction: :func:`use` sets them, :func:`using` for one block. This relies on
pymongocrypt internals, hence :data:`TESTED_PYMONGOCRYPT` and the checks in
:func:`native_hooks`; ``sign_rsaes_pkcs1_v1_5`` (GCP KMS only) stays in Python.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import pymongocrypt
import pymongocrypt.crypto
import pymongocrypt.mongocrypt
from pymongocrypt.binding import ffi, lib

__all__ = [
    "TESTED_PYMONGOCRYPT",
    "Hooks",
    "NativeCryptoUnavailableError",
    "current",
    "hook_calls",
    "native_hooks",
    "stock_hooks",
    "use",
    "using",
]

#: The pymongocrypt versions whose ``MongoCrypt`` was read and tested with these hooks.
TESTED_PYMONGOCRYPT = frozenset({"1.21.2"})


class NativeCryptoUnavailableError(Exception):
    """The native hooks cannot be used here; the message says why (no data in it)."""


@dataclass(frozen=True, slots=True)
class Hooks:
    """One set of hooks: cffi function pointers of mongocrypt.h's types."""

    aes_256_cbc_encrypt: Any
    aes_256_cbc_decrypt: Any
    aes_256_ctr_encrypt: Any
    aes_256_ctr_decrypt: Any
    hmac_sha_512: Any
    hmac_sha_256: Any
    sha_256: Any
    secure_random: Any


_NAMES = tuple(f.name for f in fields(Hooks))
_TYPES = {
    "aes_256_cbc_encrypt": "mongocrypt_crypto_fn",
    "aes_256_cbc_decrypt": "mongocrypt_crypto_fn",
    "aes_256_ctr_encrypt": "mongocrypt_crypto_fn",
    "aes_256_ctr_decrypt": "mongocrypt_crypto_fn",
    "hmac_sha_512": "mongocrypt_hmac_fn",
    "hmac_sha_256": "mongocrypt_hmac_fn",
    "sha_256": "mongocrypt_hash_fn",
    "secure_random": "mongocrypt_random_fn",
}


def stock_hooks() -> Hooks:
    """pymongocrypt's own callbacks (Python, over ``cryptography``)."""
    return Hooks(**{name: getattr(pymongocrypt.crypto, name) for name in _NAMES})


def current() -> Hooks:
    """The hooks the next ``MongoCrypt`` will register."""
    return Hooks(**{name: getattr(pymongocrypt.mongocrypt, name) for name in _NAMES})


def use(hooks: Hooks) -> None:
    """Every ``MongoCrypt`` made from now on registers *hooks* (ones already made keep theirs)."""
    for name in _NAMES:
        setattr(pymongocrypt.mongocrypt, name, getattr(hooks, name))


@contextlib.contextmanager
def using(hooks: Hooks) -> Iterator[None]:
    """``MongoCrypt`` instances made inside the block register *hooks*."""
    before = current()
    use(hooks)
    try:
        yield
    finally:
        use(before)


def _check_pymongocrypt() -> None:
    version = pymongocrypt.__version__
    if version not in TESTED_PYMONGOCRYPT:
        raise NativeCryptoUnavailableError(f"pymongocrypt {version} is not a tested version")
    try:
        available = bool(lib.mongocrypt_is_crypto_available())
    except AttributeError as exc:
        raise NativeCryptoUnavailableError("libmongocrypt is older than 1.9") from exc
    if available:
        # pymongocrypt then registers no hooks at all: libmongocrypt's own crypto is in use.
        raise NativeCryptoUnavailableError("libmongocrypt has its own crypto")
    stock = stock_hooks()
    for name in _NAMES:
        value = getattr(pymongocrypt.mongocrypt, name, None)
        if value is None or ffi.typeof(value) != ffi.typeof(getattr(stock, name)):
            raise NativeCryptoUnavailableError(f"pymongocrypt.mongocrypt.{name} has changed")


def native_hooks() -> Hooks:
    """Our C hooks, bound to the libmongocrypt pymongocrypt loaded.

    Raises :class:`NativeCryptoUnavailableError` if the extension is missing or pymongocrypt
    is not one this was tested with.
    """
    _check_pymongocrypt()
    try:
        from enclave_native import _hooks
    except ImportError as exc:
        raise NativeCryptoUnavailableError(
            "the enclave_native extension is missing"
            " (uv sync --reinstall-package enclave-native builds it)"
        ) from exc
    setter = ffi.addressof(lib, "mongocrypt_status_set")
    _hooks.bind_status_setter(int(ffi.cast("uintptr_t", setter)))
    addresses = _hooks.hook_addresses()
    if set(addresses) != set(_NAMES):
        raise NativeCryptoUnavailableError("the enclave_native extension has other hooks")
    return Hooks(**{name: ffi.cast(_TYPES[name], addresses[name]) for name in _NAMES})


def hook_calls() -> int:
    """How many times the native hooks ran in this process (0 without the extension)."""
    try:
        from enclave_native import _hooks
    except ImportError:
        return 0
    return _hooks.calls()
