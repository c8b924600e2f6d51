-- Messages 12–15 the applications of this server owe (src/send-outbox.ts): written in the application's transaction,
-- delivered in order per target and addressee (`key`), retried with back-off until accepted; a refusal that can
-- never succeed (400, 403, 422) moves the row to send_dead_letters with the status. `receiver` names the target:
-- `message-server` (12–13), `as:<name>` (14–15 in the AS) or `peer:<as>/<name>` (14–15 to another AS).
CREATE TABLE send_outbox (
  id              bigserial PRIMARY KEY,
  key             text NOT NULL,
  receiver        text NOT NULL,
  message         integer NOT NULL,
  addressee       text NOT NULL,
  data            text NOT NULL,
  application     text NOT NULL,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  lease_until     timestamptz,
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  head            boolean NOT NULL DEFAULT false
);
CREATE INDEX send_outbox_ordering ON send_outbox (key, id);
CREATE INDEX send_outbox_heads ON send_outbox (id) WHERE head;

CREATE TABLE send_dead_letters (
  id          bigint PRIMARY KEY,
  key         text NOT NULL,
  receiver    text NOT NULL,
  message     integer NOT NULL,
  addressee   text NOT NULL,
  data        text NOT NULL,
  application text NOT NULL,
  attempts    integer NOT NULL,
  status      integer,
  reason      text NOT NULL,
  created_at  timestamptz NOT NULL,
  dead_at     timestamptz NOT NULL DEFAULT now()
);
