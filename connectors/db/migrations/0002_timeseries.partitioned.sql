-- Time-series tables, natively range-partitioned on their time column (no TimescaleDB).
-- A partitioned table's primary key must include the partition key, hence (..., time).
-- Partitions are created and kept ahead of time by pg_partman (0003), or, without it,
-- everything lands in a DEFAULT partition.

CREATE TABLE window_quality (
    recording_id    text NOT NULL,
    window_index    integer NOT NULL CHECK (window_index >= 0),
    window_start    timestamptz NOT NULL,
    job_id          uuid,
    quality_score   real NOT NULL CHECK (quality_score BETWEEN 0 AND 1),
    is_artifact     boolean NOT NULL DEFAULT false,
    bad_channels    text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (recording_id, window_index, window_start)
) PARTITION BY RANGE (window_start);

CREATE TABLE detections (
    event_id      uuid NOT NULL,
    start_time    timestamptz NOT NULL,
    job_id        uuid NOT NULL,
    recording_id  text NOT NULL,
    event_type    text NOT NULL
                  CHECK (event_type IN ('epileptiform', 'PLED', 'GPED', 'seizure', 'artifact',
                                        'burst_suppression')),
    subtype       text,
    onset_s       double precision NOT NULL CHECK (onset_s >= 0),
    duration_s    double precision NOT NULL CHECK (duration_s >= 0),
    channels      text[] NOT NULL,
    confidence    double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, start_time)
) PARTITION BY RANGE (start_time);
CREATE INDEX detections_recording_idx ON detections (recording_id, start_time);
CREATE INDEX detections_job_idx ON detections (job_id);

CREATE TABLE system_metrics (
    time    timestamptz NOT NULL,
    host    text NOT NULL,
    metric  text NOT NULL,
    value   double precision NOT NULL,
    PRIMARY KEY (host, metric, time)
) PARTITION BY RANGE (time);

CREATE TABLE analysis_metrics (
    time               timestamptz NOT NULL,
    job_id             uuid NOT NULL,
    analysis_type      text NOT NULL,
    processing_time_s  double precision NOT NULL CHECK (processing_time_s >= 0),
    inference_time_s   double precision CHECK (inference_time_s >= 0),
    n_windows          integer NOT NULL CHECK (n_windows >= 0),
    duration_s         double precision NOT NULL CHECK (duration_s >= 0),
    PRIMARY KEY (job_id, time)
) PARTITION BY RANGE (time);
