-- Step 1 of the embedded store's schema: the audit log and one-time codes.
-- It is also the schema of aspen before versions were kept: a store with
-- these tables and `PRAGMA user_version` 0 counts as being at step 1.
--
-- A step that has shipped never changes (sqlite/migrations.rs pins it):
-- SQLite keeps each CREATE's text as written, indentation included, so the
-- statements stay indented as they were when they lived in a Rust string.

    CREATE TABLE IF NOT EXISTS events (
        id           INTEGER PRIMARY KEY,
        time         INTEGER NOT NULL,  -- Unix seconds, UTC
        event        TEXT NOT NULL,     -- audit::Event
        channel      TEXT NOT NULL,     -- audit::Source
        user         TEXT,              -- lower-case e-mail
        policy       TEXT,
        choice       TEXT,              -- 'corporate' | 'device' | 'work'
        kind         TEXT,              -- EnrollmentKind::slug
        ownership    TEXT,
        payload_uuid TEXT,
        sha256       TEXT,
        client       TEXT               -- client address
    );
    CREATE INDEX IF NOT EXISTS events_by_user ON events(user, event, id);
    CREATE TABLE IF NOT EXISTS invites (
        lookup  BLOB PRIMARY KEY,       -- HMAC of the code, never the code
        id      TEXT NOT NULL,
        user    TEXT NOT NULL,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL,
        used    INTEGER                 -- when it was redeemed
    );
    CREATE INDEX IF NOT EXISTS invites_by_user ON invites(user, expires);
