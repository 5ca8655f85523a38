-- Users and tokens, per-user isolation, encrypted patient identities (issue 9).
--
-- Users log in by name with a password (an argon2 hash, connectors.passwords); e-mail becomes
-- optional. Names are unique without regard to case, and have no white space.
ALTER TABLE users ALTER COLUMN email DROP NOT NULL;
ALTER TABLE users ADD COLUMN name text;
ALTER TABLE users ADD COLUMN password_hash text;        -- NULL: the user cannot log in
UPDATE users SET name = COALESCE(email, user_id::text) WHERE name IS NULL;
ALTER TABLE users ALTER COLUMN name SET NOT NULL;
ALTER TABLE users ADD CONSTRAINT users_name_check
    CHECK (length(name) BETWEEN 1 AND 64 AND name !~ '\s');
CREATE UNIQUE INDEX users_name_lower_key ON users (lower(name));

-- Every data query is scoped by its owner: these find a user's files and batches.
CREATE INDEX IF NOT EXISTS uploaded_files_uploaded_by_idx ON uploaded_files (uploaded_by);
CREATE INDEX IF NOT EXISTS batches_created_by_idx ON batches (created_by);

-- The patient identifiers of an uploaded file's header, encrypted (connectors.phi):
-- AES-256-GCM under the key named by key_id (keys rotate: a row names the key that sealed
-- it), a 96-bit nonce of its own, the file id as associated data (a row copied to another
-- file does not decrypt). The plaintext is never stored; the raw object's header is scrubbed.
CREATE TABLE patient_identities (
    file_id     uuid PRIMARY KEY REFERENCES uploaded_files (file_id) ON DELETE CASCADE,
    scheme      text NOT NULL DEFAULT 'aes-256-gcm/v1' CHECK (scheme ~ '^[a-z0-9-]+/v[0-9]+$'),
    key_id      text NOT NULL CHECK (key_id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    nonce       bytea NOT NULL CHECK (length(nonce) = 12),
    ciphertext  bytea NOT NULL CHECK (length(ciphertext) >= 16),  -- includes the 16-byte tag
    created_at  timestamptz NOT NULL DEFAULT now(),
    sealed_at   timestamptz NOT NULL DEFAULT now()              -- last (re-)encryption
);
CREATE INDEX patient_identities_key_idx ON patient_identities (key_id);
