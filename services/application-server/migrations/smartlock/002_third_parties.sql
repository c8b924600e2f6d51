-- Clause 6.6: TPSPs (third parties of the IRSP's gateway, clause 8.8) an owner linked a lock to; they hear its events
-- and may grant guests access to it. Our design (docs/smartlock.md, "The TPSP").
CREATE TABLE smartlock_third_party_links (
  lock_id     text NOT NULL REFERENCES smartlock_locks (lock_id) ON DELETE CASCADE,
  third_party text NOT NULL,
  linked_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (lock_id, third_party)
);

-- The TPSP that made a grant (NULL: the owner did); a TPSP may withdraw only its own.
ALTER TABLE smartlock_grants ADD COLUMN granted_by text;

-- The TPSP concerned: linked or unlinked by the owner, or acting in the owner's name.
ALTER TABLE smartlock_audit ADD COLUMN via text;
