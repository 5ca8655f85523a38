"""An S3-compatible object store: versitygw (Apache-2.0) with its POSIX backend.

Built once with ``go install github.com/versity/versitygw/cmd/versitygw@<tag>`` into
``<cache_dir>/bin`` (a fresh clone reuses it); buckets are folders of ``<data_dir>/s3``, object
metadata lives in extended attributes. The root access and secret keys come from the settings.
MinIO's server is AGPL and not used; the ``minio`` Python client speaks plain S3 to any server.
"""

from __future__ import annotations

from pathlib import Path

from connectors.stack._install import go_install
from connectors.stack._process import start_detached
from connectors.stack._service import Service

VERSITYGW_MODULE = "github.com/versity/versitygw/cmd/versitygw"
VERSITYGW_VERSION = "v1.8.0"


class S3(Service):
    """The project's own S3 server."""

    name = "s3"
    exe_names = ("versitygw",)
    start_timeout_s = 30.0
    port_setting = "BRRR_S3_ENDPOINT"

    @property
    def port(self) -> int:
        return self.settings.s3_port

    @property
    def address(self) -> str:
        return self.settings.s3_endpoint

    @property
    def root(self) -> Path:
        return self.settings.data_dir / "s3"

    @property
    def data_folder(self) -> Path:
        return self.root

    @property
    def binary(self) -> Path:
        return self.settings.cache_dir / "bin" / "versitygw"

    def install(self) -> None:
        go_install(VERSITYGW_MODULE, VERSITYGW_VERSION, self.binary.parent, "versitygw")

    def version(self) -> str:
        stamp = self.binary.with_name("versitygw.version")
        return "versitygw " + stamp.read_text().strip() if stamp.exists() else "?"

    def start(self) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        argv = [
            str(self.binary),
            "--port",
            f"127.0.0.1:{self.port}",
            "--access",
            self.settings.s3_access_key,
            "--secret",
            self.settings.s3_secret_key,
            "--region",
            self.settings.s3_region,
            "--quiet",
            "posix",
            str(self.root),
        ]
        return start_detached(argv, log_file=self.log_file, pid_file=self.pid_file, cwd=self.root)

    def check(self) -> None:
        # Imported here, as in the other services: ``brrr stack status`` answers at once.
        import urllib3
        from minio import Minio

        # One quick try: ``up`` retries, so the client must not back off for minutes itself.
        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=2, read=5), retries=False)
        client = Minio(
            self.settings.s3_endpoint,
            access_key=self.settings.s3_access_key,
            secret_key=self.settings.s3_secret_key,
            secure=self.settings.s3_secure,
            region=self.settings.s3_region,
            http_client=http,
        )
        try:
            client.list_buckets()
        finally:
            http.clear()

    def after_ready(self) -> None:
        """Create the project's default bucket (``BRRR_S3_BUCKET``) if it is missing."""
        from connectors.object_store import ObjectStore

        store = ObjectStore.from_settings(self.settings)
        try:
            store.ensure_bucket()
        finally:
            store.close()
