-- Core relational tables: users, uploaded files, recordings, batches, jobs, results, dead letters.
-- Patient identifiers never appear in plain columns: patient_ref is an opaque keyed hash
-- (connectors.db.sink.patient_reference), the EDF header stays in the raw object.

CREATE TABLE users (
    user_id     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email       text NOT NULL UNIQUE,
    role        text NOT NULL DEFAULT 'clinician'
                CHECK (role IN ('clinician', 'researcher', 'admin', 'service')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE uploaded_files (
    file_id       uuid PRIMARY KEY,
    filename      text NOT NULL,
    object_key    text NOT NULL,                       -- raw/{file_id}/{filename} in S3
    sha256        text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes    bigint NOT NULL CHECK (size_bytes >= 0),
    content_type  text NOT NULL DEFAULT 'application/octet-stream',
    patient_ref   text,                                -- opaque keyed hash, never a name
    uploaded_by   uuid REFERENCES users (user_id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX uploaded_files_sha256_idx ON uploaded_files (sha256);

CREATE TABLE recordings (
    recording_id  text PRIMARY KEY,
    file_id       uuid REFERENCES uploaded_files (file_id) ON DELETE CASCADE,
    source        text NOT NULL,                       -- upload, replay, device:<id>
    patient_ref   text,
    start_time    timestamptz,
    duration_s    double precision CHECK (duration_s >= 0),
    sfreq_hz      double precision CHECK (sfreq_hz > 0),
    ch_names      text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recordings_file_idx ON recordings (file_id);
CREATE INDEX recordings_patient_idx ON recordings (patient_ref);

CREATE TABLE batches (
    batch_id      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name          text NOT NULL,
    status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'processing', 'completed', 'failed')),
    n_jobs        integer NOT NULL DEFAULT 0 CHECK (n_jobs >= 0),
    created_by    uuid REFERENCES users (user_id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz
);

CREATE TABLE analysis_jobs (
    job_id         uuid PRIMARY KEY,
    file_id        uuid REFERENCES uploaded_files (file_id) ON DELETE SET NULL,
    recording_id   text,
    batch_id       uuid REFERENCES batches (batch_id) ON DELETE SET NULL,
    analysis_type  text NOT NULL CHECK (analysis_type IN ('quick', 'screening', 'comprehensive')),
    status         text NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'processing', 'completed', 'failed')),
    progress       real NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    retry_count    integer NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
    error          text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    completed_at   timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (status NOT IN ('completed', 'failed') OR completed_at IS NOT NULL)
);
CREATE INDEX analysis_jobs_status_idx ON analysis_jobs (status, created_at);
CREATE INDEX analysis_jobs_file_idx ON analysis_jobs (file_id);
CREATE INDEX analysis_jobs_batch_idx ON analysis_jobs (batch_id);

CREATE TABLE analysis_results (
    job_id                uuid PRIMARY KEY REFERENCES analysis_jobs (job_id) ON DELETE CASCADE,
    recording_id          text NOT NULL,
    status                text NOT NULL CHECK (status IN ('completed', 'failed')),
    is_abnormal           boolean,
    confidence            double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    triage_priority       text NOT NULL CHECK (triage_priority IN ('routine', 'expedite', 'urgent')),
    signal_quality_score  double precision CHECK (signal_quality_score BETWEEN 0 AND 1),
    n_events              integer NOT NULL CHECK (n_events >= 0),
    scorer                text NOT NULL,
    model_weights_id      text,
    versions              jsonb NOT NULL DEFAULT '{}',
    result                jsonb NOT NULL,
    created_at            timestamptz NOT NULL
);
CREATE INDEX analysis_results_triage_idx ON analysis_results (triage_priority, created_at);
CREATE INDEX analysis_results_recording_idx ON analysis_results (recording_id);

-- Messages the sink could not use (undecodable, or refused by a constraint): kept with the
-- error so that the partition moves on and a person can look.
CREATE TABLE dead_letters (
    topic         text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset  bigint NOT NULL,
    message_key   bytea,
    payload       bytea,
    error_code    text NOT NULL,
    error         text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, kafka_partition, kafka_offset)
);
