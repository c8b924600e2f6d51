-- The head of each ordering key (its oldest row, the only one that may be sent) is marked, so that a lease finds
-- the heads through a small partial index. Finding them with NOT EXISTS visited every row of a key's backlog at
-- every lease: a backlog of one key drained in time quadratic in its length (2 000 rows of one key: 19 s).
-- Writers keep exactly one head per key (src/outbox.ts says how, and why under a per-key advisory lock).
ALTER TABLE outbox ADD COLUMN head boolean NOT NULL DEFAULT false;
UPDATE outbox SET head = true
 WHERE id = ANY(ARRAY(SELECT DISTINCT ON (ordering_key) id FROM outbox ORDER BY ordering_key, id));
CREATE INDEX outbox_heads ON outbox (id) WHERE head;
