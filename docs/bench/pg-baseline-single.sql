\set r random(1, 200)
BEGIN;
UPDATE users SET last_seq = last_seq + 1, pending_items = pending_items + 1, pending_bytes = pending_bytes + 256, next_expiry = least(coalesce(next_expiry, 9999999999999), 9999999999999) WHERE name = 'u' || :r RETURNING last_seq AS seq \gset
INSERT INTO mailbox VALUES ('u' || :r, :seq, md5(random()::text), 's', 0, decode(repeat('ab', 256), 'hex'), 0, 9999999999999, NULL);
INSERT INTO accepted VALUES (decode(md5(random()::text), 'hex'), 9999999999999);
COMMIT;
