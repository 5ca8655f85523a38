"""The local stack against its real servers: Kafka, PostgreSQL, Redis and the S3 server.

Each test talks to a server in its own protocol with the clients the project uses (aiokafka as
inside Faust, confluent-kafka, psycopg, redis-py, minio), on names unique to the run. The last
tests check docker-compose.yml, the same services for people who have Docker.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from connectors.settings import Settings
from connectors.stack import StackError, down, status, up, up_service
from connectors.stack.kafka import kafka_version
from connectors.stack.redis import Redis
from streams.cli import main as cli_main
from tests.ports import free_port

integration = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[2]

N_MESSAGES = 10_000


# -- Kafka -----------------------------------------------------------------------------------
def _create_topic(settings: Settings, name: str, partitions: int) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    futures[name].result(timeout=30)


@integration
async def test_kafka_consumer_group_commits_10000_messages_in_partition_order(
    stack: Settings, unique_name: str
) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topic, group = unique_name, f"{unique_name}-group"
    _create_topic(stack, topic, partitions=3)

    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, acks="all", linger_ms=5
    )
    await producer.start()
    try:
        # Keyed like the pipeline (by recording): one key's messages stay on one partition.
        sends = [
            await producer.send(topic, key=f"rec-{i % 17}".encode(), value=str(i).encode())
            for i in range(N_MESSAGES)
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.kafka_bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    seen: dict[int, list[int]] = {}
    try:
        deadline = time.monotonic() + 90
        while sum(map(len, seen.values())) < N_MESSAGES and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000, max_records=1000)
            for tp, messages in batch.items():
                seen.setdefault(tp.partition, []).extend(int(m.value) for m in messages)
            if batch:
                await consumer.commit()
        committed = {tp.partition: await consumer.committed(tp) for tp in consumer.assignment()}
    finally:
        await consumer.stop()

    values = [v for part in seen.values() for v in part]
    assert sorted(values) == list(range(N_MESSAGES)), "every message exactly once"
    assert set(seen) == {0, 1, 2}, "the keys spread over the three partitions"
    for part, part_values in seen.items():
        assert part_values == sorted(part_values), f"partition {part} kept its order"
    assert set(committed) == {0, 1, 2}
    assert sum(committed.values()) == N_MESSAGES
    assert all(committed[p] == len(seen[p]) for p in committed)

    # The commits hold: the same group, started again, has nothing left to read.
    again = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.kafka_bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await again.start()
    try:
        # Joining the group takes a moment; wait until partitions are assigned.
        deadline = time.monotonic() + 30
        while not again.assignment() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        left = await again.getmany(timeout_ms=1500)
    finally:
        await again.stop()
    assert sum(len(m) for m in left.values()) == 0


def _read_all(settings: Settings, topic: str, isolation: str) -> list[str]:
    """Every value of partition 0 from the beginning, as a fresh consumer sees it."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"{topic}-{isolation}",
            "isolation.level": isolation,
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    values: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    break
                raise AssertionError(msg.error())
            values.append(msg.value().decode())
    finally:
        consumer.close()
    return values


@integration
def test_kafka_transactions_committed_seen_aborted_not(stack: Settings, unique_name: str) -> None:
    from confluent_kafka import Producer

    topic = unique_name
    _create_topic(stack, topic, partitions=1)
    producer = Producer(
        {
            "bootstrap.servers": stack.kafka_bootstrap_servers,
            "transactional.id": f"{unique_name}-tx",
        }
    )
    producer.init_transactions(30)
    for label in ("committed", "aborted", "after"):
        producer.begin_transaction()
        for i in range(5):
            producer.produce(topic, key=b"rec-1", value=f"{label}-{i}".encode())
        if label == "aborted":
            # Flushed first, so the aborted records really are in the log.
            producer.flush(30)
            producer.abort_transaction(30)
        else:
            producer.commit_transaction(30)

    committed_view = _read_all(stack, topic, "read_committed")
    raw_view = _read_all(stack, topic, "read_uncommitted")
    expected = [f"{label}-{i}" for label in ("committed", "after") for i in range(5)]
    assert committed_view == expected
    assert [v for v in raw_view if v.startswith("aborted")] == [f"aborted-{i}" for i in range(5)]


@integration
def test_kafka_idempotent_producer_writes_each_message_once_in_order(
    stack: Settings, unique_name: str
) -> None:
    from confluent_kafka import Producer

    topic = unique_name
    _create_topic(stack, topic, partitions=1)
    producer = Producer(
        {
            "bootstrap.servers": stack.kafka_bootstrap_servers,
            "enable.idempotence": True,
            "linger.ms": 5,
        }
    )
    offsets: list[int] = []
    errors: list[str] = []

    def delivered(err, msg) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            offsets.append(msg.offset())

    for i in range(1000):
        producer.produce(topic, value=str(i).encode(), on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert errors == []
    assert offsets == list(range(1000))
    assert _read_all(stack, topic, "read_committed") == [str(i) for i in range(1000)]


# -- PostgreSQL ------------------------------------------------------------------------------
@integration
def test_postgres_rolled_back_row_is_gone(stack: Settings, unique_name: str) -> None:
    import psycopg
    from psycopg import sql

    table = sql.Identifier(unique_name.replace("-", "_"))
    with psycopg.connect(stack.postgres_url) as conn, psycopg.connect(stack.postgres_url) as other:
        conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, note text)").format(table))
        conn.commit()
        try:
            conn.execute(sql.SQL("INSERT INTO {} VALUES (1, 'spike')").format(table))
            inside = conn.execute(sql.SQL("SELECT note FROM {}").format(table)).fetchall()
            outside = other.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
            other.rollback()
            conn.rollback()
            after = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
            assert conn.execute("SELECT 1").fetchone() == (1,)
        finally:
            conn.rollback()
            conn.execute(sql.SQL("DROP TABLE {}").format(table))
            conn.commit()
    assert inside == [("spike",)]
    assert outside == (0,), "another session does not see the uncommitted row"
    assert after == (0,)


# -- Redis -----------------------------------------------------------------------------------
@integration
def test_redis_key_expires_after_its_ttl(stack: Settings, unique_name: str) -> None:
    import redis

    client = redis.Redis.from_url(stack.redis_url)
    try:
        client.set(unique_name, b"urgent", px=400)
        assert client.get(unique_name) == b"urgent"
        assert 0 < client.pttl(unique_name) <= 400
        time.sleep(0.6)
        assert client.get(unique_name) is None
        assert client.exists(unique_name) == 0
    finally:
        client.delete(unique_name)
        client.close()


# -- S3 --------------------------------------------------------------------------------------
@integration
def test_s3_bucket_create_put_get_delete(stack: Settings, unique_name: str) -> None:
    from minio import Minio
    from minio.error import S3Error

    client = Minio(
        stack.s3_endpoint,
        access_key=stack.s3_access_key,
        secret_key=stack.s3_secret_key,
        secure=stack.s3_secure,
        region=stack.s3_region,
    )
    bucket, key = unique_name, "raw/rec-1.edf"
    data = bytes(range(256)) * 1000
    client.make_bucket(bucket)
    try:
        client.put_object(
            bucket, key, io.BytesIO(data), len(data), content_type="application/octet-stream"
        )
        assert client.stat_object(bucket, key).size == len(data)
        response = client.get_object(bucket, key)
        try:
            assert response.read() == data
        finally:
            response.close()
            response.release_conn()
        assert [o.object_name for o in client.list_objects(bucket, prefix="raw/")] == [key]
        client.remove_object(bucket, key)
        with pytest.raises(S3Error, match=r"NoSuchKey|does not exist"):
            client.stat_object(bucket, key)
    finally:
        for obj in client.list_objects(bucket, recursive=True):
            client.remove_object(bucket, obj.object_name)
        client.remove_bucket(bucket)
    assert not client.bucket_exists(bucket)


@integration
def test_s3_setup_creates_the_configured_bucket_once(stack: Settings, unique_name: str) -> None:
    from connectors.object_store import ObjectStore
    from connectors.stack.s3 import S3

    settings = stack.model_copy(update={"s3_bucket": unique_name})
    store = ObjectStore.from_settings(settings)
    assert not store.client.bucket_exists(unique_name)
    S3(settings).check()
    S3(settings).after_ready()
    S3(settings).after_ready()  # a second `up` finds it there
    try:
        assert store.client.bucket_exists(unique_name)
    finally:
        store.client.remove_bucket(unique_name)
        store.close()


# -- the stack commands ----------------------------------------------------------------------
@integration
def test_up_twice_is_harmless_and_fast(stack: Settings) -> None:
    if stack.stack_mode != "local":
        pytest.skip("only the local stack starts processes")
    t0 = time.monotonic()
    first = up(stack)
    t1 = time.monotonic()
    second = up(stack)
    t2 = time.monotonic()
    assert set(first) == {
        "kafka", "postgres-monitor", "postgres-1", "postgres-2", "redis", "s3"
    }  # fmt: skip
    assert all(first.values())
    assert second == first, "the same processes, nothing restarted"
    assert t1 - t0 < 15 and t2 - t1 < 15, f"up took {t1 - t0:.1f} s and {t2 - t1:.1f} s"
    assert status(stack) is True


@integration
def test_status_says_which_postgres_node_is_primary(
    stack: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    if stack.stack_mode != "local":
        pytest.skip("only the local stack runs the failover formation")
    from connectors.stack.postgres import wait_until_settled

    roles = wait_until_settled(stack)
    capsys.readouterr()
    assert status(stack) is True
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    primary = next(name for name, role in roles.items() if role == "primary")
    secondary = next(name for name, role in roles.items() if role == "secondary")
    assert "running (primary)" in lines[primary], lines[primary]
    assert "running (secondary)" in lines[secondary], lines[secondary]
    assert f"running (monitor, primary {primary})" in lines["postgres-monitor"]


def _pgid(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except (ProcessLookupError, psutil.Error):
        return None


@integration
def test_formation_killed_as_by_a_power_cut_comes_back_with_its_rows(
    stack: Settings, unique_name: str
) -> None:
    """Every process of the PostgreSQL formation killed at once (a power cut, a reboot):
    ``up`` starts them all again. The nodes' keepers used to give up, because they start
    while the monitor is still recovering and stop after five tries within a second."""
    if stack.stack_mode != "local":
        pytest.skip("only the local stack runs the failover formation")
    import psycopg
    from psycopg import sql

    from connectors.stack.postgres import postgres_services, wait_until_settled

    wait_until_settled(stack)
    table = sql.Identifier(unique_name.replace("-", "_"))
    with psycopg.connect(stack.postgres_url) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY)").format(table))
        conn.execute(sql.SQL("INSERT INTO {} SELECT generate_series(1, 100)").format(table))
    formation = postgres_services(stack)
    groups = {os.getpgid(svc.pid()) for svc in formation}  # type: ignore[arg-type]
    members = [p for p in psutil.process_iter() if _pgid(p) in groups]  # pg_autoctl, postgres
    for group in groups:
        os.killpg(group, signal.SIGKILL)
    _, alive = psutil.wait_procs(members, timeout=10)
    assert not alive and all(svc.pid() is None for svc in formation), "the formation is down"

    pids = up(stack)
    roles = wait_until_settled(stack)
    assert all(pids[svc.name] for svc in formation)
    assert sorted(roles.values()) == ["primary", "secondary"], roles
    with psycopg.connect(stack.postgres_url) as conn:
        rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
        conn.execute(sql.SQL("DROP TABLE {}").format(table))
    assert rows == (100,), "every committed row is back"


@integration
def test_up_refuses_a_port_held_by_another_process(stack: Settings, tmp_path: Path) -> None:
    if stack.stack_mode != "local":
        pytest.skip("only the local stack starts processes")
    # Another clone's data folder, same ports: the running stack is not this one's.
    other = stack.model_copy(update={"data_dir": tmp_path / "other-clone"})
    with pytest.raises(StackError, match="already in use by a process that this stack"):
        up(other)
    assert not (tmp_path / "other-clone" / "run" / "kafka.pid").exists()


@integration
def test_down_stops_only_what_up_started(stack: Settings, tmp_path: Path) -> None:
    if stack.stack_mode != "local":
        pytest.skip("only the local stack starts processes")
    settings = stack.model_copy(
        update={"data_dir": tmp_path / "mini", "redis_url": f"redis://127.0.0.1:{free_port()}/0"}
    )
    redis = Redis(settings)
    redis.install()
    pid = redis.start()
    deadline = time.monotonic() + 20
    while True:
        try:
            redis.check()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert redis.pid() == pid

    down(settings)
    assert redis.pid() is None
    assert not redis.pid_file.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)

    # A stale pid file naming a live process that is not ours: removed, nothing signalled.
    redis.pid_file.write_text(f"{os.getpid()}\n")
    down(settings)
    assert not redis.pid_file.exists()
    assert status(settings) is False


@integration
def test_a_server_that_dies_at_start_is_named_with_its_log(stack: Settings, tmp_path: Path) -> None:
    if stack.stack_mode != "local":
        pytest.skip("only the local stack starts processes")
    settings = stack.model_copy(
        update={"data_dir": tmp_path / "broken", "redis_url": f"redis://127.0.0.1:{free_port()}/0"}
    )
    redis = Redis(settings)
    # A damaged data folder: Redis refuses to load a snapshot that is not one, and exits.
    redis.workdir.mkdir(parents=True)
    (redis.workdir / "dump.rdb").write_bytes(b"this is not an RDB snapshot" * 10)
    with pytest.raises(StackError) as info:
        up_service(redis)
    message = str(info.value)
    assert message.startswith("redis: the server exited right after starting")
    assert str(redis.log_file) in message
    assert "RDB" in message or "signature" in message, "the tail of Redis's own log"
    assert "Try:" in message
    assert redis.pid() is None and not redis.pid_file.exists()


@integration
def test_external_mode_starts_nothing_and_checks_the_servers(
    stack: Settings, tmp_path: Path
) -> None:
    external = stack.model_copy(update={"stack_mode": "external", "data_dir": tmp_path / "x"})
    assert up(external) == {"kafka": None, "postgres": None, "redis": None, "s3": None}
    assert not (tmp_path / "x").exists(), "nothing installed, started or written"
    assert status(external) is True
    nowhere = external.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with pytest.raises(StackError, match=r"redis: no answer at 127\.0\.0\.1:\d+ after 10 s"):
        up(nowhere)


def test_testcontainers_mode_is_refused_without_a_docker_engine(tmp_path: Path) -> None:
    settings = Settings(stack_mode="testcontainers", data_dir=tmp_path)
    with pytest.raises(StackError, match="needs a Docker engine"):
        up(settings)


# -- docker-compose.yml ----------------------------------------------------------------------
def _compose_services(text: str) -> dict[str, str]:
    """Each service's block of text, by name (the file's own layout: two-space indents)."""
    body = text.split("\nservices:\n", 1)[1].split("\nvolumes:\n", 1)[0]
    parts = re.split(r"^  ([a-z0-9-]+):\n", body, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_compose_file_has_the_stack_and_the_project_services() -> None:
    text = (REPO_ROOT / "docker-compose.yml").read_text()
    services = _compose_services(text)
    assert set(services) == {"kafka", "postgres", "redis", "s3", "worker", "api"}
    # The same broker version as the local stack's pom, KRaft mode, no ZooKeeper anywhere.
    assert f"image: apache/kafka:{kafka_version()}\n" in services["kafka"]
    assert "KAFKA_PROCESS_ROLES: broker,controller" in services["kafka"]
    assert "zookeeper" not in text.lower()
    assert "image: timescale/timescaledb:latest-pg15" in services["postgres"]
    assert "image: versity/versitygw:" in services["s3"]
    assert "minio/minio" not in text
    # Host ports: the local stack's, on loopback only.
    published = re.findall(r'- "([0-9.]+):(\d+):\d+"', text)
    assert {ip for ip, _ in published} == {"127.0.0.1"}
    assert {int(port) for _, port in published} == {19092, 15432, 16379, 17070, 18000}
    # The project's own services: built here, pointed at the others by service name.
    env = text.split("x-brrr-env: &brrr-env\n", 1)[1].split("\n\n", 1)[0]
    assert "BRRR_KAFKA_BOOTSTRAP_SERVERS: kafka:9092" in env
    assert "BRRR_POSTGRES_URL: postgresql://brrr:brrr@postgres:5432/brrr" in env
    assert "BRRR_REDIS_URL: redis://redis:6379/0" in env
    assert "BRRR_S3_ENDPOINT: s3:7070" in env
    # The worker runs the agents and the sink; each command is one the brrr CLI really has.
    for name, command in (("worker", ["worker"]), ("api", ["api"])):
        assert "build: ." in services[name]
        assert f"command: {json.dumps(command)}" in services[name]
        assert "<<: *brrr-env" in services[name]
        run = CliRunner().invoke(cli_main, [*command, "--help"])
        assert run.exit_code == 0, run.output
    assert (REPO_ROOT / "Dockerfile").read_text().count('ENTRYPOINT ["brrr"]') == 1


def _compose_command() -> list[str] | None:
    """``docker compose`` (CLI plugin) or ``docker-compose``, when one is installed."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def test_docker_compose_config_accepts_the_file() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("no docker compose client here (the structural test above still ran)")
    proc = subprocess.run(
        [*command, "-f", str(REPO_ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, proc.stderr
