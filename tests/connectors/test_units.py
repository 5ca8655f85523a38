"""Connector functions that need no server: migration discovery, keys, references, errors."""

from __future__ import annotations

import gc
import logging
from datetime import UTC, datetime

import numpy as np
import pytest

from connectors.cache import TwoLevelCache
from connectors.db import DatabaseUnavailableError, MigrationError, redact_url
from connectors.db.jobs import patient_reference
from connectors.db.migrate import MIGRATIONS_DIR, discover, migrate
from connectors.kafka_sink import DETECTIONS_TOPIC, RESULTS_TOPIC
from connectors.kafka_topics import PIPELINE_TOPICS, KafkaUnavailableError, RecordProducer
from connectors.object_store import (
    InvalidKeyError,
    ObjectStore,
    ObjectStoreUnavailableError,
    decode_array,
    encode_array,
    features_key,
    raw_key,
    result_key,
)
from connectors.settings import Settings, postgres_hosts
from tests.ports import free_port


def test_discover_picks_the_backend_variant() -> None:
    timescale = {m.version: m for m in discover("timescaledb")}
    partitioned = {m.version: m for m in discover("partitioned")}
    assert timescale[1].path == partitioned[1].path == MIGRATIONS_DIR / "0001_core.sql"
    assert timescale[2].path.name == "0002_timeseries.timescaledb.sql"
    assert partitioned[2].path.name == "0002_timeseries.partitioned.sql"
    # pg_partman's partitions have no TimescaleDB counterpart: recorded, nothing to run
    assert timescale[3].path is None and partitioned[3].path is not None
    assert timescale[4].path == partitioned[4].path == MIGRATIONS_DIR / "0004_window_scores.sql"
    assert timescale[5].path == partitioned[5].path == MIGRATIONS_DIR / "0005_alerts.sql"
    assert timescale[6].path == partitioned[6].path == MIGRATIONS_DIR / "0006_auth.sql"
    assert timescale[7].path == partitioned[7].path == MIGRATIONS_DIR / "0007_api.sql"
    assert sorted(timescale) == sorted(partitioned) == [1, 2, 3, 4, 5, 6, 7]


def test_discover_refuses_misnamed_files_and_backends(tmp_path) -> None:
    (tmp_path / "0001_core.sql").write_text("SELECT 1")
    (tmp_path / "2_oops.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match=r"2_oops\.sql is misnamed"):
        discover("partitioned", tmp_path)
    with pytest.raises(MigrationError, match="unknown backend"):
        discover("mysql", tmp_path)


def test_discover_refuses_common_file_beside_variants(tmp_path) -> None:
    (tmp_path / "0001_core.sql").write_text("SELECT 1")
    (tmp_path / "0001_core.partitioned.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match="both a common file and backend variants"):
        discover("partitioned", tmp_path)


def test_migrate_against_a_closed_port_says_what_to_do() -> None:
    url = f"postgresql://brrr:secret@127.0.0.1:{free_port()}/brrr"
    with pytest.raises(DatabaseUnavailableError, match="brrr stack up") as info:
        migrate(url)
    assert "secret" not in str(info.value) and "***" in str(info.value)


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("postgresql://u:pw@h:5/db") == "postgresql://u:***@h:5/db"
    assert redact_url("postgresql://h/db") == "postgresql://h/db"
    multi = "postgresql://u:pw@h1:5,h2:6/db?target_session_attrs=read-write"
    assert redact_url(multi) == "postgresql://u:***@h1:5,h2:6/db?target_session_attrs=read-write"


def test_postgres_hosts_reads_every_host_of_a_multi_host_url() -> None:
    url = "postgresql://u:p@10.0.0.1:15432,db2:15433,[::1]/db?target_session_attrs=read-write"
    assert postgres_hosts(url) == [("10.0.0.1", 15432), ("db2", 15433), ("::1", 5432)]
    assert postgres_hosts("postgresql:///db") == [("localhost", 5432)]
    assert Settings(postgres_url=url).postgres_port == 15432
    assert [port for _, port in postgres_hosts(Settings().postgres_url)] == [15432, 15433]


def test_a_migration_given_two_hosts_tries_both_and_names_them() -> None:
    first, second = free_port(), free_port()
    url = f"postgresql://brrr:secret@127.0.0.1:{first},127.0.0.1:{second}/brrr"
    with pytest.raises(DatabaseUnavailableError) as info:
        migrate(url)
    assert f"127.0.0.1:{first},127.0.0.1:{second}" in str(info.value)
    assert "secret" not in str(info.value)


def test_patient_reference_is_stable_opaque_and_keyed() -> None:
    key = b"k" * 32
    ref = patient_reference("Doe^Jane 1970-01-01", key)
    assert ref == patient_reference("  doe^jane   1970-01-01 ", key)
    assert "jane" not in ref.lower() and len(ref) == 64
    assert ref != patient_reference("Doe^Jane 1970-01-01", b"x" * 32)
    assert ref != patient_reference("Doe^John 1970-01-01", key)
    with pytest.raises(ValueError, match="16 bytes"):
        patient_reference("x", b"short")


def test_object_keys_follow_the_layout() -> None:
    assert raw_key("f1", "night.edf") == "raw/f1/night.edf"
    assert result_key("j1") == "results/j1/complete.json"
    assert features_key("f1", 7) == "features/f1/7.npy"


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", ".hidden", "x" * 300])
def test_object_keys_refuse_unsafe_segments(bad: str) -> None:
    with pytest.raises(InvalidKeyError, match="cannot be part of an object key"):
        raw_key(bad, "file.edf")
    with pytest.raises(InvalidKeyError):
        features_key("f1", -1)


def test_array_bytes_round_trip_without_pickle() -> None:
    array = np.random.default_rng(0).standard_normal((4, 512)).astype(np.float32)
    back = decode_array(encode_array(array))
    assert back.dtype == np.float32 and np.array_equal(back, array)
    with pytest.raises(ValueError):
        decode_array(encode_array(np.array([{"a": 1}], dtype=object)))


def test_cache_warning_for_redis_down_hides_the_password(caplog) -> None:
    store = ObjectStore(f"127.0.0.1:{free_port()}", "key", "s3-secret", "bucket", timeout_s=0.5)
    cache = TwoLevelCache(store, f"redis://:redis-secret@127.0.0.1:{free_port()}/0")
    with (
        caplog.at_level(logging.WARNING, logger="connectors.cache"),
        pytest.raises(ObjectStoreUnavailableError),
    ):
        cache.get_with_source("results/job/complete.json")
    assert cache.stats()["redis_error"] == 1
    warnings = [r.getMessage() for r in caplog.records if "does not answer" in r.getMessage()]
    assert warnings and "BRRR_REDIS_URL" in warnings[0] and ":***@127.0.0.1" in warnings[0]
    assert "redis-secret" not in caplog.text and "redis-secret" not in cache.redis_url
    cache.redis.close()


@pytest.mark.parametrize("bad", ["../other", "a/b", ""])
def test_cache_refuses_a_file_id_that_cannot_be_part_of_a_key(bad: str) -> None:
    # Refused before any server is asked: neither level is reachable here.
    store = ObjectStore(f"127.0.0.1:{free_port()}", "key", "secret", "bucket", timeout_s=0.5)
    cache = TwoLevelCache(store, f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(InvalidKeyError, match="file_id"):
        cache.put_result("job-1", bad, {"verdict": "normal"})
    assert cache.stats()["redis_error"] == 0


def test_producer_with_no_broker_says_what_was_lost_and_what_to_do() -> None:
    address = f"127.0.0.1:{free_port()}"
    producer = RecordProducer(address)
    record = {
        "job_id": "123e4567-e89b-12d3-a456-426614174000",
        "recording_id": "rec-1",
        "event_id": "123e4567-e89b-12d3-a456-426614174001",
        "event_type": "seizure",
        "onset_s": 70.0,
        "duration_s": 30.0,
        "start_time": datetime(2026, 11, 26, 9, 30, tzinfo=UTC),
        "channels": ["T7", "P7"],
        "confidence": 0.9,
    }
    producer.send("eeg.detections", "Detection", "rec-1", record)
    with pytest.raises(KafkaUnavailableError, match=r"1 record\(s\) not delivered") as info:
        producer.flush(timeout_s=0.5)
    assert address in str(info.value) and "BRRR_KAFKA_BOOTSTRAP_SERVERS" in str(info.value)
    # librdkafka would otherwise keep dialling the closed port until the process ends: the
    # exception's traceback holds the producer in a reference cycle, so collect it now.
    del info, producer
    gc.collect()


def test_the_sink_consumes_topics_that_ensure_topics_creates() -> None:
    # The names live in two modules (kafka_sink need not import confluent_kafka): keep in step.
    assert {RESULTS_TOPIC, DETECTIONS_TOPIC} <= set(PIPELINE_TOPICS)
