-- Step 4 of the shared store's schema: sign-ins at the organisation's
-- identity provider. A session keeps what the IdP said about the person
-- (their Managed Apple Account, their groups and the claim they came
-- from); an audit row keeps the groups a policy was chosen by and that
-- claim; each finished sign-in is remembered until its cookie expires, so
-- its callback cannot be used twice, on any replica.
--
-- A step that has shipped never changes (postgres/migrations.rs pins it).

ALTER TABLE sessions ADD COLUMN managed_apple_id TEXT,
                     ADD COLUMN user_groups TEXT,   -- JSON array of strings
                     ADD COLUMN groups_claim TEXT;
ALTER TABLE events ADD COLUMN user_groups TEXT,     -- JSON array of strings
                   ADD COLUMN groups_claim TEXT;    -- NULL: from users.csv
CREATE TABLE oidc_flows (
    id      BYTEA PRIMARY KEY,                      -- derived from the flow's cookie
    expires BIGINT NOT NULL
);
CREATE INDEX oidc_flows_by_expiry ON oidc_flows (expires);
