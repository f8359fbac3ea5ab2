-- Step 3 of the shared store's schema: the device an audit row is about
-- (Automated Device Enrollment: serial number, UDID, product, OS version),
-- found by serial number for `aspen issued --serial`, and the device a
-- per-profile secret was issued to, named when the secret is checked.
--
-- A step that has shipped never changes (postgres/migrations.rs pins it).

    ALTER TABLE events ADD COLUMN serial TEXT, ADD COLUMN udid TEXT,
        ADD COLUMN product TEXT, ADD COLUMN os_version TEXT;
    CREATE INDEX events_by_serial ON events (serial, id);
    ALTER TABLE secrets ADD COLUMN serial TEXT, ADD COLUMN udid TEXT;
