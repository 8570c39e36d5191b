"""Ed25519 keys for audit seals: loading, generating, signing, verifying.

The gateway signs checkpoints of each tenant's audit chain with its private key; anyone
holding the public key can check them. Keys are PEM files (PKCS#8), written 0600.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = ["SealKey", "generate_seal_key_file", "key_id"]


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class SealKey:
    """The signing key, and the public keys whose seals verify (the signing key's own and
    any retired ones)."""

    private: Ed25519PrivateKey
    retired: tuple[Ed25519PublicKey, ...] = ()

    @classmethod
    def from_file(cls, path: Path) -> SealKey:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return cls(key)

    @property
    def id(self) -> str:
        return key_id(self.private.public_key())

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)

    def verify(self, kid: str, message: bytes, signature: bytes) -> bool:
        for public in (self.private.public_key(), *self.retired):
            if key_id(public) == kid:
                try:
                    public.verify(signature, message)
                except InvalidSignature:
                    return False
                return True
        return False


def generate_seal_key_file(path: Path) -> bool:
    """Write a new Ed25519 key to *path* (0600) unless one is there; True if written."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
    finally:
        os.close(fd)
    return True
