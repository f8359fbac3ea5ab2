-- Step 2 of the embedded store's schema: each user's current choice (filled
-- from the audit log, the latest answer per user and policy), portal
-- sessions, per-profile identity secrets, throttle buckets and the health
-- row; the subject and reason of identity-secret checks.
--
-- A step that has shipped never changes (sqlite/migrations.rs pins it):
-- SQLite keeps each CREATE's text as written, indentation included, so the
-- statements stay indented as they were when they lived in a Rust string.

    ALTER TABLE events ADD COLUMN subject TEXT;
    ALTER TABLE events ADD COLUMN reason TEXT;
    CREATE INDEX invites_by_expiry ON invites(expires);
    CREATE TABLE choices (
        user   TEXT NOT NULL,
        policy TEXT NOT NULL,
        choice TEXT NOT NULL,
        time   INTEGER NOT NULL,
        PRIMARY KEY (user, policy)
    ) WITHOUT ROWID;
    INSERT INTO choices (user, policy, choice, time)
        SELECT user, policy, choice, time FROM events
        WHERE event = 'choice' AND user IS NOT NULL AND policy IS NOT NULL
              AND choice IS NOT NULL
        ORDER BY id
        ON CONFLICT (user, policy) DO UPDATE SET choice = excluded.choice, time = excluded.time;
    CREATE TABLE sessions (
        id      BLOB PRIMARY KEY,       -- keyed hash of the cookie's secret
        user    TEXT NOT NULL,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL,
        ended   INTEGER                 -- when it was signed out
    );
    CREATE INDEX sessions_by_expiry ON sessions(expires);
    CREATE TABLE secrets (
        lookup       BLOB PRIMARY KEY,  -- keyed hash of the secret
        kind         TEXT NOT NULL,     -- SecretKind
        user         TEXT,
        payload_uuid TEXT NOT NULL,
        created      INTEGER NOT NULL,
        expires      INTEGER NOT NULL,
        used         INTEGER
    );
    CREATE INDEX secrets_by_expiry ON secrets(expires);
    CREATE TABLE throttle (
        key     TEXT PRIMARY KEY,
        tokens  REAL NOT NULL,
        updated INTEGER NOT NULL        -- Unix milliseconds
    ) WITHOUT ROWID;
    CREATE TABLE health (
        id      INTEGER PRIMARY KEY CHECK (id = 1),
        checked INTEGER NOT NULL
    );
