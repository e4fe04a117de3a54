\set r random(1, 200)
BEGIN;
UPDATE users SET last_seq = last_seq + 100, pending_items = pending_items + 100, pending_bytes = pending_bytes + 25600 WHERE name = 'u' || :r RETURNING last_seq AS seq \gset
INSERT INTO mailbox SELECT 'u' || :r, :seq - 100 + g, md5(random()::text), 's', 0, decode(repeat('ab', 256), 'hex'), 0, 9999999999999, NULL FROM generate_series(1, 100) g;
INSERT INTO accepted SELECT decode(md5(random()::text), 'hex'), 9999999999999 FROM generate_series(1, 100);
COMMIT;
