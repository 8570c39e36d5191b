"""Native crypto for libmongocrypt: AES-256 and HMAC in C over OpenSSL instead of Python.

pymongocrypt's Linux wheel ships a libmongocrypt built without crypto, which calls back into
Python (``pymongocrypt/crypto.py``) for every AES-256-CBC and HMAC-SHA-512: two callbacks per
decrypted value, three per encrypted one. The ``enclave_native`` extension (``native/``, built
by ``uv sync``) has the same primitives in C; :func:`install` makes every ``MongoCrypt``
made afterwards in this process register them, after a known-answer self-test against
ciphertexts of the stock library (:mod:`regions.nativecrypto.selftest`). If the extension is
missing, pymongocrypt is not a tested version, or the self-test fails, it logs why once and
keeps the stock callbacks: slower, still correct. ``ENCLAVE_NATIVE_CRYPTO=false`` turns it off.

The format, the padding, the MAC check and the KMS logic stay in libmongocrypt.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Literal

from pydantic import TypeAdapter

from regions.nativecrypto.hooks import (
    NativeCryptoUnavailableError,
    hook_calls,
    native_hooks,
    stock_hooks,
    use,
)
from regions.nativecrypto.selftest import SelfTestError, Vectors, run

__all__ = ["CryptoStatus", "ensure_installed", "install", "status"]

log = logging.getLogger("enclave.crypto")


@dataclass(frozen=True, slots=True)
class CryptoStatus:
    """Which hooks new ``MongoCrypt`` instances register, and why."""

    implementation: Literal["native", "stock"]
    reason: str

    @property
    def native(self) -> bool:
        return self.implementation == "native"


_status: CryptoStatus | None = None
_enabled: bool | None = None  # what _status was chosen for
_logged: set[CryptoStatus] = set()


def install(enabled: bool, *, vectors: Vectors | None = None) -> CryptoStatus:
    """Choose the hooks for every ``MongoCrypt`` made from now on in this process.

    With *enabled*, the native hooks if they pass the self-test (against *vectors*, by default
    the stored ones), else the stock ones. Cheap when nothing changes: the result is kept.
    """
    global _status, _enabled
    if _status is not None and vectors is None and _enabled == enabled:
        return _status
    _enabled = enabled if vectors is None else None  # a test's own vectors are not kept
    if not enabled:
        use(stock_hooks())
        _status = CryptoStatus("stock", "turned off (ENCLAVE_NATIVE_CRYPTO=false)")
    else:
        _status = _try_native(vectors)
    if _status not in _logged:
        _logged.add(_status)
        level = logging.WARNING if enabled and not _status.native else logging.INFO
        log.log(level, "libmongocrypt crypto: %s (%s)", _status.implementation, _status.reason)
    return _status


def _try_native(vectors: Vectors | None) -> CryptoStatus:
    try:
        hooks = native_hooks()
        before = hook_calls()
        run(hooks, vectors)
        if hook_calls() == before:  # pymongocrypt no longer registers what its globals name
            raise SelfTestError("the self-test passed without calling the native hooks")
    except (NativeCryptoUnavailableError, SelfTestError) as exc:
        use(stock_hooks())
        return CryptoStatus("stock", f"native crypto not used: {exc}")
    except Exception as exc:  # anything else (pymongocrypt changed under us): still never worse
        use(stock_hooks())
        return CryptoStatus("stock", f"native crypto not used: {type(exc).__name__}: {exc}")
    use(hooks)
    return CryptoStatus("native", "OpenSSL hooks passed the self-test")


def ensure_installed() -> CryptoStatus:
    """The hooks chosen so far in this process, or chosen now from ``ENCLAVE_NATIVE_CRYPTO``.

    Processes that build :class:`gateway.settings.Settings` choose explicitly (the app's
    services call :func:`install`); this covers any process that makes region clients
    without them, reading the one variable the same way pydantic-settings does.
    """
    if _status is not None:
        return _status
    raw = os.environ.get("ENCLAVE_NATIVE_CRYPTO", "true")
    return install(TypeAdapter(bool).validate_python(raw))


def status() -> CryptoStatus:
    """Which hooks new ``MongoCrypt`` instances register (stock until :func:`install`)."""
    return _status or CryptoStatus("stock", "not installed")
