-- Offline storage (14543-5-8 §11 instant and offline; XEP-0160): messages to an account with no online resource,
-- kept until its next login (delivered with XEP-0203 delay stamps) or until they expire.
CREATE TABLE offline_messages (
  id         bigserial PRIMARY KEY,
  owner      text NOT NULL REFERENCES accounts (local_part) ON DELETE CASCADE,
  stanza     text NOT NULL,
  stored_at  timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX offline_messages_owner ON offline_messages (owner, id);
CREATE INDEX offline_messages_expiry ON offline_messages (expires_at);
