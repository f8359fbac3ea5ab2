-- Step 1 of the shared store's schema: the audit log and one-time codes.
-- The steps are those of the embedded store (sqlite/schema/), so a version
-- number means the same tables on both backends; the user's column is
-- `email` here (`user` is a reserved word in PostgreSQL).
--
-- A step that has shipped never changes (postgres/migrations.rs pins it);
-- the statements keep the text, and the indentation, they had when they
-- lived in a Rust string.

    CREATE TABLE events (
        id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        time         BIGINT NOT NULL,   -- Unix seconds, UTC
        event        TEXT NOT NULL,     -- audit::Event
        channel      TEXT NOT NULL,     -- audit::Source
        email        TEXT,              -- lower-case e-mail
        policy       TEXT,
        choice       TEXT,              -- 'corporate' | 'device' | 'work'
        kind         TEXT,              -- EnrollmentKind::slug
        ownership    TEXT,
        payload_uuid TEXT,
        sha256       TEXT,
        client       TEXT               -- client address
    );
    CREATE INDEX events_by_email ON events (email, event, id);
    CREATE TABLE invites (
        lookup  BYTEA PRIMARY KEY,      -- HMAC of the code, never the code
        id      TEXT NOT NULL,
        email   TEXT NOT NULL,
        created BIGINT NOT NULL,
        expires BIGINT NOT NULL,
        used    BIGINT                  -- when it was redeemed
    );
    CREATE INDEX invites_by_email ON invites (email, expires);
