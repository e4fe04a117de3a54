DROP TABLE IF EXISTS users, mailbox, accepted;
CREATE TABLE users (name text PRIMARY KEY, signing_key bytea NOT NULL DEFAULT '', agreement_key bytea NOT NULL DEFAULT '', created_at bigint NOT NULL DEFAULT 0,
  last_seen bigint, last_seq bigint NOT NULL DEFAULT 0, pending_items bigint NOT NULL DEFAULT 0, pending_bytes bigint NOT NULL DEFAULT 0, next_expiry bigint);
CREATE TABLE mailbox (recipient text NOT NULL, seq bigint NOT NULL, id text NOT NULL, sender text NOT NULL, kind smallint NOT NULL, body bytea NOT NULL,
  accepted_at bigint NOT NULL, expires_at bigint NOT NULL, grp text, PRIMARY KEY (recipient, seq));
CREATE UNIQUE INDEX mailbox_by_recipient_id ON mailbox (recipient, id);
CREATE TABLE accepted (key bytea PRIMARY KEY, expires_at bigint NOT NULL);
CREATE INDEX accepted_by_expiry ON accepted (expires_at);
INSERT INTO users (name) SELECT 'u' || g FROM generate_series(1, 200) g;
