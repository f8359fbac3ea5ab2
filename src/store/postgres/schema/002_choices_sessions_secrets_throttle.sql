-- Step 2 of the shared store's schema: each user's current choice (filled
-- from the audit log, the latest answer per user and policy), portal
-- sessions, per-profile identity secrets, throttle buckets and the health
-- row; the subject and reason of identity-secret checks.
--
-- A step that has shipped never changes (postgres/migrations.rs pins it);
-- the statements keep the text, and the indentation, they had when they
-- lived in a Rust string.

    ALTER TABLE events ADD COLUMN subject TEXT, ADD COLUMN reason TEXT;
    CREATE INDEX invites_by_expiry ON invites (expires);
    CREATE TABLE choices (
        email  TEXT NOT NULL,
        policy TEXT NOT NULL,
        choice TEXT NOT NULL,
        time   BIGINT NOT NULL,
        PRIMARY KEY (email, policy)
    );
    INSERT INTO choices (email, policy, choice, time)
        SELECT DISTINCT ON (email, policy) email, policy, choice, time FROM events
        WHERE event = 'choice' AND email IS NOT NULL AND policy IS NOT NULL
              AND choice IS NOT NULL
        ORDER BY email, policy, id DESC;
    CREATE TABLE sessions (
        id      BYTEA PRIMARY KEY,      -- keyed hash of the cookie's secret
        email   TEXT NOT NULL,
        created BIGINT NOT NULL,
        expires BIGINT NOT NULL,
        ended   BIGINT                  -- when it was signed out
    );
    CREATE INDEX sessions_by_expiry ON sessions (expires);
    CREATE TABLE secrets (
        lookup       BYTEA PRIMARY KEY, -- keyed hash of the secret
        kind         TEXT NOT NULL,     -- SecretKind
        email        TEXT,
        payload_uuid TEXT NOT NULL,
        created      BIGINT NOT NULL,
        expires      BIGINT NOT NULL,
        used         BIGINT
    );
    CREATE INDEX secrets_by_expiry ON secrets (expires);
    CREATE TABLE throttle (
        key     TEXT PRIMARY KEY,
        tokens  DOUBLE PRECISION NOT NULL,
        updated BIGINT NOT NULL         -- Unix milliseconds
    );
    CREATE TABLE health (
        id      INTEGER PRIMARY KEY CHECK (id = 1),
        checked BIGINT NOT NULL
    );
