-- The REST layer's way in: who asked for a job, how urgent it is, what it should run;
-- batches of jobs; and what each worker reports about itself (its model), for /ready and
-- for refusing analyses that need a model no worker could load.
ALTER TABLE analysis_jobs
    ADD COLUMN owner_id  uuid REFERENCES users (user_id) ON DELETE SET NULL,
    ADD COLUMN priority  text NOT NULL DEFAULT 'normal'
                         CHECK (priority IN ('low', 'normal', 'high')),
    ADD COLUMN options   jsonb NOT NULL DEFAULT '{}',
    -- the Kafka namespace of the worker that runs it: only its workers requeue it
    ADD COLUMN kafka_namespace text NOT NULL DEFAULT '';
CREATE INDEX analysis_jobs_owner_idx ON analysis_jobs (owner_id, created_at);

ALTER TABLE batches
    ADD COLUMN analysis_type text CHECK (analysis_type IN ('quick', 'screening', 'comprehensive')),
    ADD COLUMN priority      text NOT NULL DEFAULT 'normal'
                             CHECK (priority IN ('low', 'normal', 'high'));
CREATE INDEX batches_owner_idx ON batches (created_by, created_at);

-- One row per running worker, refreshed by its heartbeat; namespace is its Kafka namespace
-- (BRRR_KAFKA_NAMESPACE): only workers of the API's own namespace take its jobs.
CREATE TABLE worker_status (
    worker_id      text PRIMARY KEY,
    namespace      text NOT NULL DEFAULT '',
    host           text NOT NULL,
    pid            integer NOT NULL,
    model_state    text NOT NULL CHECK (model_state IN ('ready', 'failed', 'not_configured')),
    model_error    text,
    metrics_url    text,
    started_at     timestamptz NOT NULL,
    heartbeat_at   timestamptz NOT NULL DEFAULT now()
);
