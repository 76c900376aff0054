"""One typed settings object for every part of aifabric.

Values come from (highest first) keyword arguments, environment variables
(``AIFABRIC_<SECTION>__<FIELD>``, e.g. ``AIFABRIC_KAFKA__BOOTSTRAP_SERVERS``), a config
file (``AIFABRIC_CONFIG`` or ``<data_dir>/config.yaml``, YAML or TOML) and defaults.
An empty endpoint means "use the embedded part that ``aifabric up`` starts"; call
:meth:`Settings.resolved` to get the concrete endpoints either way.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

LOOPBACK = "127.0.0.1"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KafkaSettings(_Section):
    bootstrap_servers: str = Field("", description="Kafka bootstrap servers; empty = embedded Tansu")
    port: int = Field(19092, description="port of the embedded broker")
    security_protocol: str = "PLAINTEXT"
    default_partitions: int = 3
    default_retention_ms: int = 7 * 24 * 3600 * 1000


class S3Settings(_Section):
    endpoint: str = Field("", description="S3 endpoint URL; empty = embedded SeaweedFS")
    port: int = Field(
        18333,
        ge=1,
        le=55000,
        description="S3 port of the embedded SeaweedFS; it also takes the next 8 ports and this + 10008 "
        "(its admin's gRPC port)",
    )
    access_key: SecretStr = SecretStr("")
    secret_key: SecretStr = SecretStr("")
    region: str = "us-east-1"
    bucket: str = "aifabric"
    mlflow_bucket: str = "mlflow"


class SQLSettings(_Section):
    url: SecretStr = Field(SecretStr(""), description="SQLAlchemy URL; empty = SQLite in the data dir")


class MLflowSettings(_Section):
    tracking_uri: str = Field("", description="MLflow tracking URI; empty = embedded mlflow server")
    port: int = 15000


class APISettings(_Section):
    host: str = LOOPBACK
    port: int = 18080
    public_url: str = ""


class KFPSettings(_Section):
    host: str = Field("", description="Kubeflow Pipelines endpoint; empty = kfp.local")
    dashboard_url: str = ""
    warm_step_server: bool = Field(
        False,
        description="run a step server with TensorFlow and MLflow imported under the supervisor, so "
        "local pipeline steps start without imports (costs a resident process); off = one per run",
    )


class ServingSettings(_Section):
    backend: str = Field("local", description="deploy backend: local | kubernetes | dotted path")
    namespace: str = "mlops"
    port_range_start: int = 18500


class Settings(BaseSettings):
    """Everything a process needs to find the other parts of the fabric."""

    model_config = SettingsConfigDict(
        env_prefix="AIFABRIC_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    data_dir: Path = Field(default_factory=lambda: Path.home() / ".aifabric")
    kafka: KafkaSettings = KafkaSettings()
    s3: S3Settings = S3Settings()
    sql: SQLSettings = SQLSettings()
    mlflow: MLflowSettings = MLflowSettings()
    api: APISettings = APISettings()
    kfp: KFPSettings = KFPSettings()
    serving: ServingSettings = ServingSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _ConfigFileSource(settings_cls)

    # -- embedded parts -------------------------------------------------------------------

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def secrets_file(self) -> Path:
        return self.data_dir / "secrets.json"

    def embedded(self, part: str) -> bool:
        """True when ``part`` (broker, s3, sql, mlflow) is not given by configuration."""
        return {
            "broker": not self.kafka.bootstrap_servers,
            "s3": not self.s3.endpoint,
            "sql": not self.sql.url.get_secret_value(),
            "mlflow": not self.mlflow.tracking_uri,
        }[part]

    def resolved(self) -> Settings:
        """A copy with every empty endpoint replaced by its embedded address.

        Embedded S3 credentials are generated once per data dir and kept in
        ``secrets.json`` (mode 0600), never in the repository or a log line.
        """
        upd = self.model_copy(deep=True)
        if upd.embedded("broker"):
            upd.kafka.bootstrap_servers = f"{LOOPBACK}:{upd.kafka.port}"
        if upd.embedded("s3"):
            upd.s3.endpoint = f"http://{LOOPBACK}:{upd.s3.port}"
            if not upd.s3.access_key.get_secret_value():
                creds = embedded_credentials(upd)
                upd.s3.access_key = SecretStr(creds["access_key"])
                upd.s3.secret_key = SecretStr(creds["secret_key"])
        if upd.embedded("sql"):
            upd.sql.url = SecretStr(f"sqlite:///{upd.data_dir / 'aifabric.db'}")
        if upd.embedded("mlflow"):
            upd.mlflow.tracking_uri = f"http://{LOOPBACK}:{upd.mlflow.port}"
        return upd

    @property
    def api_url(self) -> str:
        return self.api.public_url or f"http://{self.api.host}:{self.api.port}"

    def public_dict(self) -> dict[str, Any]:
        """Settings as a dict safe to print: secrets masked, URL passwords removed."""
        data = self.model_dump(mode="json")
        data["sql"]["url"] = redact_url(self.sql.url.get_secret_value())
        for key in ("access_key", "secret_key"):
            data["s3"][key] = "**********" if getattr(self.s3, key).get_secret_value() else ""
        return data


def embedded_credentials(settings: Settings) -> dict[str, str]:
    """Load or create the embedded S3 identity for this data dir."""
    path = settings.secrets_file
    if path.exists():
        return orjson.loads(path.read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    creds = {"access_key": "aifabric-" + secrets.token_hex(6), "secret_key": secrets.token_urlsafe(30)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(orjson.dumps(creds))
    return creds


def redact_url(url: str) -> str:
    """Drop the password of a URL such as ``postgresql://user:pw@host/db``."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    userinfo, host = rest.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in userinfo else url


class _ConfigFileSource(PydanticBaseSettingsSource):
    """Reads ``AIFABRIC_CONFIG`` (or ``<data_dir>/config.yaml``) as YAML or TOML."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("AIFABRIC_CONFIG")
        if not path:
            data_dir = Path(os.environ.get("AIFABRIC_DATA_DIR", Path.home() / ".aifabric"))
            candidate = data_dir / "config.yaml"
            if not candidate.exists():
                return {}
            path = str(candidate)
        file = Path(path)
        if not file.exists():
            raise FileNotFoundError(f"AIFABRIC_CONFIG points at {file}, which does not exist")
        text = file.read_text(encoding="utf-8")
        data = tomllib.loads(text) if file.suffix == ".toml" else yaml.safe_load(text)
        return data or {}


def get_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, the config file and ``overrides``."""
    return Settings(**overrides)
