"""Settings, read once from the environment (prefix ``ENCLAVE_``) into a typed object.

Nested settings use ``__``: ``ENCLAVE_EU__MONGODB_URI``, ``ENCLAVE_US__MONGODB_URI``,
``ENCLAVE_EU__LOCAL_MASTER_KEY_FILE``, ``ENCLAVE_EU__KMS_PROVIDER`` and so on (see
``regions.catalog.RegionConfig``). A ``.env`` file is not read: secrets come from the
environment or from files the operator points at.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from regions.catalog import RegionConfig
from regions.countries import RegionName
from storage.auditmac import EntryAuthenticator
from storage.signing import SealKey

__all__ = ["Settings"]


def check_proxies(proxies: list[str]) -> list[str]:
    """*proxies*, if each is an address or a network (``*``, trusting anyone, is not)."""
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ValueError(
                "ENCLAVE_FORWARDED_ALLOW_IPS lists proxy addresses or networks (never *)"
            ) from None
    return proxies


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ENCLAVE_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    eu: RegionConfig
    us: RegionConfig
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")

    #: HS256 secret for development tokens, or a file holding it.
    jwt_secret: SecretStr | None = None
    jwt_secret_file: Path | None = None
    jwt_issuer: str = "enclave"
    jwt_audience: str = "enclave"
    jwt_leeway_seconds: int = 30
    token_ttl_seconds: int = 8 * 3600
    #: Accept HS256 tokens that carry no sign-in session (minted straight from the secret,
    #: as ``enclave dev``, the tests and the benchmarks do). Off by default: every built-in
    #: token must then come from a sign-in and its session must still be live, so the
    #: signing secret alone lets nobody in (operators included).
    sessionless_tokens: bool = False
    #: How long a one-time setup code (``tenants create``, ``reset-admin-code``) is valid.
    setup_code_ttl_hours: int = Field(default=72, ge=1, le=30 * 24)
    #: An external identity provider (RS256/ES256): its JWKS, issuer and audience, and the
    #: names of its tenant, subject and roles claims.
    jwt_jwks_file: Path | None = None
    jwt_jwks_url: str | None = None
    jwt_external_issuer: str | None = None
    jwt_external_audience: str | None = None
    jwt_tenant_claim: str = "tid"
    jwt_subject_claim: str = "sub"
    jwt_roles_claim: str = "roles"

    #: Largest page a list query may ask for, and the default.
    max_page_size: int = Field(default=500, ge=1, le=10_000)
    default_page_size: int = Field(default=50, ge=1)
    #: Largest request body, in bytes.
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    graphiql: bool = True
    #: Document limits, each refused with BAD_USER_INPUT before execution.
    max_depth: int = Field(default=12, ge=1)
    max_aliases: int = Field(default=30, ge=0)
    #: Selections once every fragment spread is expanded (a chain of fragments each spreading
    #: the next twice doubles per fragment).
    max_selections: int = Field(default=10_000, ge=100)
    #: Pairs of fields merged under one response name (graphql-core compares every pair).
    max_merges: int = Field(default=1_000, ge=10)
    max_tokens: int = Field(default=2_000, ge=50)
    #: Estimated cost: one per field per object, a list multiplying by its page size.
    max_cost: int = Field(default=100_000, ge=100)
    #: Whether clients may introspect the schema (each sees only what their role allows).
    introspection: bool = True
    #: Requests per window per principal and per tenant (0: no limit), counted in Redis.
    rate_limit_per_principal: int = Field(default=600, ge=0)
    rate_limit_per_tenant: int = Field(default=6_000, ge=0)
    rate_limit_window_seconds: int = Field(default=60, ge=1)
    #: Anonymous sign-in operations (login, refreshSession, activateAccount) per window per
    #: client address and per tenant (0: no limit), counted in Redis.
    signin_rate_limit_per_address: int = Field(default=30, ge=0)
    signin_rate_limit_per_tenant: int = Field(default=300, ge=0)
    #: Password hashes computed at once (threads; each argon2id takes ~150 ms of one core),
    #: and how many more may wait for one: beyond that, sign-ins are refused (429).
    password_hash_threads: int = Field(default=2, ge=1, le=64)
    password_hash_queue: int = Field(default=32, ge=0)
    #: Proxies (addresses or networks) whose X-Forwarded-For / -Proto are believed, so that
    #: per-address sign-in limits see the client's address behind a load balancer. Never
    #: "*": anyone could then choose the address they are counted under.
    forwarded_allow_ips: list[str] = Field(default_factory=list)
    #: How long a mutation's result is kept for retries with the same Idempotency-Key.
    idempotency_ttl_seconds: int = Field(default=86_400, ge=60)
    #: Origins allowed to call the API from a browser (CORS); none by default.
    cors_origins: list[str] = Field(default_factory=list)
    #: Reconcile pending audit intents older than this, at start-up and periodically.
    reconcile_interval_seconds: float = 30.0
    #: The reconciler and the sealer visit only the tenants whose writes marked them as
    #: having work; every this many passes (and at the first) they visit every tenant as
    #: well, a safety net counting what the marks missed (``enclave_background_sweep_missed``).
    background_sweep_every_passes: int = Field(default=20, ge=1)
    #: Ed25519 private key (PEM) that signs audit checkpoints; ``enclave keys init`` makes one.
    audit_seal_key_file: Path | None = None
    #: A secret (32+ bytes) from which the key authenticating each audit entry as it is
    #: written is derived; unset: derived from the seal key file. Never in the database.
    audit_mac_key_file: Path | None = None
    #: How often each gateway seals its tenants' new audit entries.
    audit_seal_interval_seconds: float = Field(default=5.0, gt=0)
    #: Record every read of personal data and every sign-in (issue: who saw what).
    access_log: bool = True
    #: How often each gateway purges terminated tenants whose retention has run out
    #: (0: never; then run ``enclave tenants purge-due`` from cron).
    purge_interval_seconds: float = Field(default=3600.0, ge=0)
    #: How long an export's download link stays valid (it can be used once).
    export_url_ttl_seconds: int = Field(default=900, ge=10, le=86_400)
    #: The deadline of one export's database reads (FerretDB sorts in memory: the first
    #: batch of a big export comes only after every record was read).
    export_timeout_seconds: float = Field(default=3600.0, gt=0)
    #: Serve read queries over datasheets through compiled plans (resolvers.compiled);
    #: false: every request through the standard Strawberry executor.
    compiled_reads: bool = True
    #: Without Redis pub/sub, how stale a process's copy of a tenant's roles may get.
    policy_recheck_seconds: float = Field(default=2.0, gt=0, le=60)
    #: How many tenants each per-tenant cache of a process holds (control records,
    #: policies, allow-list modes, data key ids, audit sequence guesses and heads, API key
    #: uses): the least recently used is forgotten first and read again on its next request.
    #: Their sizes are ``enclave_cache_entries`` in ``/metrics``.
    tenant_cache_size: int = Field(default=10_000, ge=1)
    #: libmongocrypt's AES and HMAC in C over OpenSSL (``enclave_native``), after a start-up
    #: self-test; false: pymongocrypt's stock Python callbacks (see regions.nativecrypto).
    native_crypto: bool = True
    #: Bearer token required on ``/metrics`` (unset: open, for a scraper inside the network).
    metrics_token: SecretStr | None = None
    #: On SIGTERM, how long in-flight requests may take before the process exits anyway.
    shutdown_grace_seconds: int = Field(default=25, ge=1)
    #: OpenTelemetry traces, sent over OTLP/HTTP to this collector (``http://host:4318``;
    #: ``/v1/traces`` is added): unset, tracing is off and costs nothing (gateway.tracing).
    otlp_endpoint: str | None = None
    #: Detection rules (gateway.detection): how often a pass runs (0: never), how many
    #: recently active tenants one pass visits at most, and how many access events it reads
    #: at most of a tenant's last hour (and of one heavy reader's baseline hours).
    detection_interval_seconds: float = Field(default=60.0, ge=0)
    detection_tenants_per_pass: int = Field(default=200, ge=1)
    detection_max_events: int = Field(default=50_000, ge=100)
    #: Each alert is POSTed here (unset: no webhook), signed as the Standard Webhooks spec
    #: says with the secret (``whsec_`` + base64, 24+ bytes), and retried with exponential
    #: backoff from ``detection_webhook_backoff_seconds``, ``attempts`` times at most.
    detection_webhook_url: str | None = None
    detection_webhook_secret: SecretStr | None = None
    detection_webhook_attempts: int = Field(default=5, ge=1, le=20)
    detection_webhook_backoff_seconds: float = Field(default=1.0, gt=0, le=300)

    @model_validator(mode="after")
    def _one_jwt_secret(self) -> Settings:
        if (self.jwt_secret is None) == (self.jwt_secret_file is None):
            raise ValueError("set exactly one of ENCLAVE_JWT_SECRET and ENCLAVE_JWT_SECRET_FILE")
        return self

    @model_validator(mode="after")
    def _webhook_secret(self) -> Settings:
        if self.detection_webhook_url is not None and self.detection_webhook_secret is None:
            raise ValueError("ENCLAVE_DETECTION_WEBHOOK_URL needs ENCLAVE_DETECTION_WEBHOOK_SECRET")
        return self

    @model_validator(mode="after")
    def _trusted_proxies(self) -> Settings:
        check_proxies(self.forwarded_allow_ips)
        return self

    def jwt_key(self) -> str:
        if self.jwt_secret is not None:
            secret = self.jwt_secret.get_secret_value()
        else:
            assert self.jwt_secret_file is not None
            secret = self.jwt_secret_file.read_text().strip()
        if len(secret) < 32:
            raise ValueError("the JWT secret must be at least 32 characters")
        return secret

    def seal_key(self) -> SealKey:
        if self.audit_seal_key_file is None:
            raise ValueError("ENCLAVE_AUDIT_SEAL_KEY_FILE is not set: audit seals need a key")
        return SealKey.from_file(self.audit_seal_key_file)

    def audit_mac(self) -> EntryAuthenticator:
        """The key that authenticates audit entries where they are written (required)."""
        if self.audit_mac_key_file is not None:
            return EntryAuthenticator.from_file(self.audit_mac_key_file)
        if self.audit_seal_key_file is None:
            raise ValueError(
                "ENCLAVE_AUDIT_SEAL_KEY_FILE (or ENCLAVE_AUDIT_MAC_KEY_FILE) is not set: "
                "audit entries need a key"
            )
        return EntryAuthenticator.from_seal_key(self.seal_key())

    def regions(self) -> dict[RegionName, RegionConfig]:
        return {"eu": self.eu, "us": self.us}

    def to_env(self) -> dict[str, str]:
        """The ``ENCLAVE_`` variables from which ``Settings()`` reads settings equal to these,
        for a child process (``enclave serve`` in tests and benchmarks). Secrets are in
        clear; a setting at its default is left out."""
        env: dict[str, str] = {}
        _add_env(self, "ENCLAVE_", env)
        return env


def _add_env(model: BaseModel, prefix: str, env: dict[str, str]) -> None:
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        if value == info.get_default(call_default_factory=True):
            continue
        key = prefix + name.upper()
        if value is None:
            raise ValueError(f"{key}: no environment variable reads as None")
        if isinstance(value, BaseModel):  # a nested model, read from KEY__FIELD variables
            _add_env(value, key + "__", env)
        else:
            env[key] = _env_value(value)


def _env_value(value: Any) -> str:
    """*value* as pydantic-settings parses it back: lists and mappings as JSON."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, default=_json_value)
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} has no environment form")
