-- Webhooks the gateway application owes its third parties (clause 8.8): written in the transaction that records
-- the message, delivered in order per third party, retried with back-off until a 2xx; a refusal that can never
-- succeed (a 4xx other than 401, 408 and 429) moves the row to gateway_dead_letters with the status.
CREATE TABLE gateway_outbox (
  id              bigserial PRIMARY KEY,
  third_party     text NOT NULL,
  event           jsonb NOT NULL,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  lease_until     timestamptz,
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gateway_outbox_due ON gateway_outbox (next_attempt_at, id);
CREATE INDEX gateway_outbox_ordering ON gateway_outbox (third_party, id);

CREATE TABLE gateway_dead_letters (
  id          bigint PRIMARY KEY,
  third_party text NOT NULL,
  event       jsonb NOT NULL,
  attempts    integer NOT NULL,
  status      integer,
  reason      text NOT NULL,
  created_at  timestamptz NOT NULL,
  dead_at     timestamptz NOT NULL DEFAULT now()
);
