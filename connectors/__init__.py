"""The outside world: Kafka, PostgreSQL/TimescaleDB, S3 object store, Redis, EEG sources."""
