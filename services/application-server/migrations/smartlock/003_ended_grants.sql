-- A grant whose window has ended is erased from the lock (Table 3 remove), as a revocation is: `erase_sent_at` is
-- when the last erasure frame went (retried while unconfirmed), `erased_at` when the lock confirmed it. The row
-- stays, so that the grantee is still told `3005 accessExpired` rather than `3004 forbidden`.
ALTER TABLE smartlock_grants ADD COLUMN erase_sent_at timestamptz;
ALTER TABLE smartlock_grants ADD COLUMN erased_at timestamptz;
CREATE INDEX smartlock_grants_ended ON smartlock_grants (valid_until) WHERE erased_at IS NULL;
