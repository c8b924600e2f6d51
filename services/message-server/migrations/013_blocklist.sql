-- XEP-0191 Blocking Command: the JIDs (bare, full or domain) an account blocks, on top of the IRSP rule that
-- unrelated accounts do not exchange stanzas. Gone with the account (Message 5/6).
CREATE TABLE blocklist (
  owner      text NOT NULL REFERENCES accounts (local_part) ON DELETE CASCADE,
  jid        text NOT NULL,
  blocked_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (owner, jid)
);
