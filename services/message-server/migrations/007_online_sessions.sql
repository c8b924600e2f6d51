-- Who is online on which message server of the AS, so that a crash does not leave anyone online for ever (Messages
-- 10–11 and presence, docs/decisions/0013-online-sessions.md). A row per bound session (full JID), written in the
-- transaction that queues the device's Message 10 and deleted in the one that queues its Message 11. A message server
-- holds a lease it renews; rows of a server whose lease ran out (it died and did not come back) are taken over by a
-- live server of the AS, and a server that starts takes over the rows it held before it stopped.
CREATE TABLE message_server_leases (
  server_id   text PRIMARY KEY,
  -- Random per process start: a second process with the same id (a misconfiguration) is noticed.
  instance    text NOT NULL,
  lease_until timestamptz NOT NULL
);

CREATE TABLE online_sessions (
  local_part text NOT NULL,
  resource   text NOT NULL,
  server_id  text NOT NULL,
  since      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (local_part, resource)
);
CREATE INDEX online_sessions_server ON online_sessions (server_id);
