-- The head of each third party's queue (its oldest row, the only one that may be sent) is marked, so that a lease
-- finds the heads through a small partial index. Finding them with NOT EXISTS visited every row of a third
-- party's backlog at every lease: the backlog of a third party that was down drained in time quadratic in its
-- length. Writers keep exactly one head per third party (src/gateway/outbox.ts says how).
ALTER TABLE gateway_outbox ADD COLUMN head boolean NOT NULL DEFAULT false;
UPDATE gateway_outbox SET head = true
 WHERE id = ANY(ARRAY(SELECT DISTINCT ON (third_party) id FROM gateway_outbox ORDER BY third_party, id));
CREATE INDEX gateway_outbox_heads ON gateway_outbox (id) WHERE head;
