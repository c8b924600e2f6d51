-- Messages this server must deliver to another server (Message 7 now; Messages 8–11 later): written in the
-- same transaction as the change they report, delivered in order per ordering_key, retried with back-off
-- until the receiver answers; a 400 or 422 moves the row to dead_letters with the reason.
CREATE TABLE outbox (
  id              bigserial PRIMARY KEY,
  target          text NOT NULL,
  operation       text NOT NULL,
  ordering_key    text NOT NULL,
  params          jsonb NOT NULL,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  lease_until     timestamptz,
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, id);
CREATE INDEX outbox_ordering ON outbox (ordering_key, id);

CREATE TABLE dead_letters (
  id           bigint PRIMARY KEY,
  target       text NOT NULL,
  operation    text NOT NULL,
  ordering_key text NOT NULL,
  params       jsonb NOT NULL,
  attempts     integer NOT NULL,
  status       integer,
  reason       text NOT NULL,
  created_at   timestamptz NOT NULL,
  dead_at      timestamptz NOT NULL DEFAULT now()
);
