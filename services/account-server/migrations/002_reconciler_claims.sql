-- The reconciler's claim on an unsettled row and its per-row back-off (src/reconciler.ts). A row is acted on by the
-- one instance whose claim (`claim`, a random token) is live (`claimed_until`); a client request that retries a
-- pending registration or a removal takes the row only while nobody holds a live claim, so a client's retry and a
-- reconciler never both send Messages 1–6 for one row. A row the message server did not confirm waits until
-- `next_settle_at` (exponential back-off in `settle_attempts`), so an AS that cannot be reached keeps its rows out
-- of the way of the others.
ALTER TABLE accounts ADD COLUMN claim text;
ALTER TABLE accounts ADD COLUMN claimed_until timestamptz;
ALTER TABLE accounts ADD COLUMN settle_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN next_settle_at timestamptz NOT NULL DEFAULT now();
