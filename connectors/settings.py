"""One settings object: all configuration comes from environment variables, read once.

Every variable is prefixed ``BRRR_`` (``BRRR_POSTGRES_URL``, ``BRRR_KAFKA_BOOTSTRAP_SERVERS``...).
The defaults point at the project's own local stack (``brrr stack up``) on 127.0.0.1; set the
variables to use existing servers instead.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Development defaults of the secrets: usable on a laptop, refused in production
#: (``api.security.check_production_secrets``).
DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-0123456789abcdef"
DEV_PATIENT_REF_KEY = "dev-only-patient-ref-key-change-me"
#: base64 of the 32 bytes "dev-only-phi-key-never-for-real!".
DEV_PHI_KEY_B64 = "ZGV2LW9ubHktcGhpLWtleS1uZXZlci1mb3ItcmVhbCE="
DEV_PHI_ACTIVE_KEY = "dev"
DEV_PHI_KEYS = f"{DEV_PHI_ACTIVE_KEY}:{DEV_PHI_KEY_B64}"


class Settings(BaseSettings):
    """Configuration of every part of Brain-Go-Brrr."""

    model_config = SettingsConfigDict(env_prefix="BRRR_", env_file=None, extra="ignore")

    # Where the local stack keeps its data and logs (git ignores it).
    data_dir: Path = Field(default=REPO_ROOT / ".brrr")
    # Downloads that survive a fresh clone: Kafka jars, the S3 server binary.
    cache_dir: Path = Field(default=Path.home() / ".cache" / "brain-go-brrr")
    # "local": the project's own servers (the only way on machines without Docker);
    # "external": servers already running at the URLs below, nothing is started;
    # "testcontainers": test fixtures start container images (needs a Docker engine).
    stack_mode: Literal["local", "external", "testcontainers"] = "local"

    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    # Prefix of every topic and consumer group (empty: "eeg.segments"...); lets two
    # deployments or test runs share one broker (connectors.kafka_topics.Topics).
    kafka_namespace: str = ""
    kafka_controller_port: int = 19093
    # Every client connects to whichever host is the read-write primary (libpq tries them in
    # turn), so a failover needs no change of configuration. The local stack runs a
    # pg_auto_failover node on each host's port, and its monitor on postgres_monitor_port.
    postgres_url: str = (
        "postgresql://brrr:brrr@127.0.0.1:15432,127.0.0.1:15433/brrr"
        "?target_session_attrs=read-write&connect_timeout=3"
    )
    postgres_monitor_port: int = 15431
    redis_url: str = "redis://127.0.0.1:16379/0"
    s3_endpoint: str = "127.0.0.1:17070"
    s3_access_key: str = "brrr-access-key"
    s3_secret_key: str = "brrr-secret-key-change-me"
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    s3_bucket: str = "brain-go-brrr"

    # EEGPT weights: the official Lightning checkpoint or a plain state dict. None: the
    # feature stage is skipped and says so.
    model_checkpoint_path: Path | None = None
    # Development only: run EEGPT with random weights when no checkpoint is configured.
    allow_random_weights: bool = False
    # int8 dynamic quantization of EEGPT's linear layers (about 3x faster on CPU).
    eegpt_int8: bool = False
    # EEGPT arithmetic: auto (bf16 on CPUs with AMX / AVX-512 BF16, int8 elsewhere), fp32,
    # bf16 or int8. Unset: int8 when eegpt_int8 is true, else fp32.
    eegpt_precision: Literal["auto", "fp32", "bf16", "int8"] | None = None
    # EEGPT's threads: torch's threads for one pass (brrr analyze, the API's process), or,
    # in the stream worker, passes run side by side with one torch thread each (torch's two
    # threads meet at a barrier after every operation and wait for the thread that the
    # worker's other work preempted: 54 ms a window there against 23 ms alone).
    eegpt_threads: int = 2
    # Trained abnormality probe on EEGPT features (``brrr probe train`` writes one).
    probe_path: Path | None = None
    # After EEGPT failed to load, the worker tries again after this long (a checkpoint put
    # in place later is picked up without a restart).
    model_retry_s: float = 30.0

    # The stream worker (``brrr worker``).
    # A job interrupted (worker killed, or no progress for job_stall_timeout_s) is retried
    # with retry_count + 1, at most this many times; then it is failed with the reason.
    job_max_retries: int = 3
    job_stall_timeout_s: float = 120.0
    # Jobs one worker feeds into the stream at once.
    worker_job_concurrency: int = 4
    # Length of the segments a file is cut into on eeg.segments.
    file_segment_s: float = 4.0
    # EEGPT micro-batches: at most this many windows, across recordings, waiting at most
    # feature_batch_wait_s for the batch to fill. EEGPT costs the same per window from 4 to
    # 8 windows a pass (more is slower here), and the agent takes no window while a batch
    # runs: 8 keeps a live window's wait for its result short.
    feature_batch_windows: int = 8
    feature_batch_wait_s: float = 0.25
    # A live device silent for this long is closed and its recording summarised.
    live_silence_s: float = 60.0
    # A consumer that stops heartbeating (kill -9) loses its partitions after this long.
    kafka_session_timeout_s: float = 10.0
    # The worker's Prometheus metrics (host:port; a taken port falls back to a free one,
    # which the worker logs and reports in worker_status). Empty: no metrics server.
    worker_metrics_address: str = "127.0.0.1:18001"
    # How often a worker reports itself (worker_status) and a heartbeat older than
    # worker_alive_s means the worker is gone.
    worker_heartbeat_s: float = 5.0
    worker_alive_s: float = 20.0

    # Key of the patient reference (HMAC of the identifier): set a secret of the deployment.
    patient_ref_key: str = DEV_PATIENT_REF_KEY

    # --- the API's users, tokens and patient data (api.security) ---------------------------
    # "production": the API refuses to start while a secret (BRRR_JWT_SECRET,
    # BRRR_PATIENT_REF_KEY, BRRR_PHI_KEYS, BRRR_PHI_ACTIVE_KEY) is unset or still its
    # development default; "development" uses the defaults and logs that it does.
    environment: Literal["development", "production"] = "development"
    # HS256 key of the access tokens, at least 32 characters.
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    # Lifetime of an access token, seconds.
    token_expiry_s: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    # Login attempts per user name: past login_max_attempts failed ones within
    # login_window_s, the login answers 429 until the window ends. Counted in Redis (so
    # across API processes); per process while Redis is down.
    login_max_attempts: int = Field(default=5, ge=1)
    login_window_s: int = Field(default=300, ge=1)
    # Keys of the patient identifiers' encryption (connectors.phi): "id:base64,id:base64",
    # each 32 random bytes (`python -c 'import os,base64; print(base64.b64encode(
    # os.urandom(32)).decode())'`). New identities are sealed under phi_active_key; a stored
    # one opens under the key its row names. To rotate: add a key, make it active, keep the
    # old ones until `brrr phi reseal` has moved every row.
    phi_keys: SecretStr = SecretStr(DEV_PHI_KEYS)
    phi_active_key: str = DEV_PHI_ACTIVE_KEY

    api_host: str = "127.0.0.1"
    api_port: int = 18000
    # Largest upload accepted, bytes (larger: 413, nothing stored).
    upload_max_bytes: int = Field(default=1024 * 1024 * 1024, ge=1024)
    # Largest body of every other request (JSON, the login form), bytes: larger is 413
    # before it is read (api.body_limits), with or without a Content-Length.
    api_max_json_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Files per batch request, at most.
    batch_max_files: int = Field(default=500, ge=1)

    @property
    def kafka_port(self) -> int:
        return _port_of(self.kafka_bootstrap_servers.split(",")[0], default=9092)

    @property
    def postgres_port(self) -> int:
        """The port of the URL's first host."""
        return postgres_hosts(self.postgres_url)[0][1]

    @property
    def redis_port(self) -> int:
        return urlsplit(self.redis_url).port or 6379

    @property
    def s3_port(self) -> int:
        return _port_of(self.s3_endpoint, default=443 if self.s3_secure else 80)

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"


class InsecureSettingsError(Exception):
    """A production deployment whose secrets are unset or still the development defaults."""


def development_secrets(settings: Settings) -> list[str]:
    """The ``BRRR_`` variables of secrets that are unset (empty) or still their development
    default; empty when the deployment set all of its own."""
    values = {
        "BRRR_JWT_SECRET": (settings.jwt_secret.get_secret_value(), DEV_JWT_SECRET),
        "BRRR_PATIENT_REF_KEY": (settings.patient_ref_key, DEV_PATIENT_REF_KEY),
        "BRRR_PHI_KEYS": (settings.phi_keys.get_secret_value(), DEV_PHI_KEYS),
        "BRRR_PHI_ACTIVE_KEY": (settings.phi_active_key, DEV_PHI_ACTIVE_KEY),
    }
    weak = [name for name, (value, default) in values.items() if not value or value == default]
    if "BRRR_PHI_KEYS" not in weak and DEV_PHI_KEY_B64 in settings.phi_keys.get_secret_value():
        weak.append("BRRR_PHI_KEYS")  # the development key kept under another id
    return weak


def check_secrets(settings: Settings, service: str) -> None:
    """Refuse to run ``service`` in production with development secrets; in development,
    log that they are in use.

    Raises
    ------
    InsecureSettingsError
        ``environment`` is production and :func:`development_secrets` names any variable.
    """
    weak = development_secrets(settings)
    if not weak:
        return
    if settings.environment == "production":
        raise InsecureSettingsError(
            f"{service} does not start in production without secrets of its own: set "
            f"{', '.join(weak)} (unset or still the development defaults), or set "
            "BRRR_ENVIRONMENT=development on a machine without patient data"
        )
    logging.getLogger(__name__).warning(
        "%s uses development keys for %s: fine on a laptop, never with patient data "
        "(BRRR_ENVIRONMENT=production refuses them)",
        service,
        ", ".join(weak),
    )


def postgres_hosts(url: str) -> list[tuple[str, int]]:
    """The (host, port) pairs of a libpq URL, which may name several hosts.

    ``postgresql://u:p@h1:5432,h2:5433/db`` gives ``[("h1", 5432), ("h2", 5433)]``; a host
    without a port gets 5432. (``urllib`` reads such a URL's port wrongly: it takes the
    last one and calls the rest the host name.)
    """
    netloc = urlsplit(url).netloc.rsplit("@", 1)[-1]
    hosts = []
    for host_port in netloc.split(","):
        if host_port.startswith("["):  # [::1]:5432
            host, _, rest = host_port[1:].partition("]")
            port = rest.removeprefix(":")
        else:
            host, _, port = host_port.partition(":")
        hosts.append((host or "localhost", int(port) if port else 5432))
    return hosts


def _port_of(host_port: str, default: int) -> int:
    host_port = host_port.split("://")[-1]
    return int(host_port.rsplit(":", 1)[1]) if ":" in host_port else default


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings, read from the environment once per process."""
    return Settings()
