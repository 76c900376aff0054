"""Settings: env, config file, embedded resolution, and secrets never printed."""

from __future__ import annotations

import os
import stat

import orjson
import pytest

from aifabric.config import Settings, get_settings, redact_url


def test_env_and_file_sources(tmp_path, monkeypatch) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("kafka:\n  bootstrap_servers: kafka-a:9092\nmlflow:\n  tracking_uri: http://mlflow:5000\n")
    monkeypatch.setenv("AIFABRIC_CONFIG", str(cfg))
    monkeypatch.setenv("AIFABRIC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AIFABRIC_KAFKA__BOOTSTRAP_SERVERS", "kafka-env:9092")
    s = get_settings()
    assert s.kafka.bootstrap_servers == "kafka-env:9092"  # env beats file
    assert s.mlflow.tracking_uri == "http://mlflow:5000"
    assert not s.embedded("broker") and not s.embedded("mlflow") and s.embedded("s3")


def test_toml_file_and_missing_file(tmp_path, monkeypatch) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("[api]\nport = 9999\n")
    monkeypatch.setenv("AIFABRIC_CONFIG", str(cfg))
    assert get_settings(data_dir=tmp_path).api.port == 9999
    monkeypatch.setenv("AIFABRIC_CONFIG", str(tmp_path / "absent.yaml"))
    with pytest.raises(FileNotFoundError, match=r"absent\.yaml"):
        get_settings()


def test_unknown_keys_are_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="bootstrap"):
        Settings(data_dir=tmp_path, kafka={"bootstrapservers": "x"})


def test_resolved_fills_embedded_endpoints_and_keeps_credentials_private(tmp_path) -> None:
    s = Settings(data_dir=tmp_path).resolved()
    assert s.kafka.bootstrap_servers == "127.0.0.1:19092"
    assert s.s3.endpoint == "http://127.0.0.1:18333"
    assert s.sql.url.get_secret_value() == f"sqlite:///{tmp_path / 'aifabric.db'}"
    secret = s.s3.secret_key.get_secret_value()
    assert len(secret) > 20
    assert stat.S_IMODE(os.stat(tmp_path / "secrets.json").st_mode) == 0o600
    # stable per data dir
    assert Settings(data_dir=tmp_path).resolved().s3.secret_key.get_secret_value() == secret
    printed = orjson.dumps(s.public_dict()).decode() + repr(s) + str(s)
    assert secret not in printed


def test_sql_password_redacted(tmp_path) -> None:
    s = Settings(data_dir=tmp_path, sql={"url": "postgresql://app:hunter2@db:5432/fabric"})
    assert "hunter2" not in orjson.dumps(s.public_dict()).decode()
    assert "hunter2" not in repr(s)
    assert redact_url("postgresql://app:hunter2@db/x") == "postgresql://app:***@db/x"
    assert redact_url("sqlite:///x.db") == "sqlite:///x.db"
