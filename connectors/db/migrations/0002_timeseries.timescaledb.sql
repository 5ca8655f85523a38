-- Time-series tables as TimescaleDB hypertables, chunked by day on their time column.
-- Unique keys include the time column (a hypertable requires it), as in the partitioned form.
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE window_quality (
    recording_id    text NOT NULL,
    window_index    integer NOT NULL CHECK (window_index >= 0),
    window_start    timestamptz NOT NULL,
    job_id          uuid,
    quality_score   real NOT NULL CHECK (quality_score BETWEEN 0 AND 1),
    is_artifact     boolean NOT NULL DEFAULT false,
    bad_channels    text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (recording_id, window_index, window_start)
);

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
);
CREATE INDEX detections_recording_idx ON detections (recording_id, start_time);
CREATE INDEX detections_job_idx ON detections (job_id);

CREATE TABLE system_metrics (
    time    timestamptz NOT NULL,
    host    text NOT NULL,
    metric  text NOT NULL,
    value   double precision NOT NULL,
    PRIMARY KEY (host, metric, time)
);

CREATE TABLE analysis_metrics (
    time               timestamptz NOT NULL,
    job_id             uuid NOT NULL,
    analysis_type      text NOT NULL,
    processing_time_s  double precision NOT NULL CHECK (processing_time_s >= 0),
    inference_time_s   double precision CHECK (inference_time_s >= 0),
    n_windows          integer NOT NULL CHECK (n_windows >= 0),
    duration_s         double precision NOT NULL CHECK (duration_s >= 0),
    PRIMARY KEY (job_id, time)
);

SELECT create_hypertable('window_quality', 'window_start', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE);
SELECT create_hypertable('detections', 'start_time', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE);
SELECT create_hypertable('system_metrics', 'time', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE);
SELECT create_hypertable('analysis_metrics', 'time', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE);
