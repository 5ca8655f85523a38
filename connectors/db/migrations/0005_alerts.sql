-- Urgent alerts of live recordings, as sent on eeg.alerts.urgent: one row when an episode's
-- evidence is complete (status 'onset'), one when it ends ('ended'). alert_id names the
-- episode, so an alert delivered twice is stored once.
CREATE TABLE alerts (
    alert_id         uuid NOT NULL,
    status           text NOT NULL CHECK (status IN ('onset', 'ended')),
    recording_id     text NOT NULL,
    device_id        text,
    patient_ref      text,                               -- keyed hash, never a name
    finding          text NOT NULL,
    onset_s          double precision NOT NULL,
    onset_time       timestamptz,
    end_s            double precision,
    confidence       double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    evidence_window  bigint NOT NULL,
    evidence_end_s   double precision NOT NULL,
    emitted_at       timestamptz NOT NULL,
    stored_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (alert_id, status)
);
CREATE INDEX alerts_recording_idx ON alerts (recording_id, emitted_at);
CREATE INDEX alerts_emitted_idx ON alerts (emitted_at);
