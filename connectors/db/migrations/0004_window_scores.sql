-- The stream worker stores one row per analysis window: its abnormality score beside its
-- quality, and where it starts in the recording (seconds from the first sample).
ALTER TABLE window_quality
    ADD COLUMN abnormal_score real CHECK (abnormal_score BETWEEN 0 AND 1),
    ADD COLUMN start_s double precision CHECK (start_s >= 0);

-- Which agent refused a message that reached the dead letters through eeg.deadletter.
ALTER TABLE dead_letters ADD COLUMN agent text;
