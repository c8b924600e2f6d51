-- What the default application received (Messages 8–11 from the message server, 14–15 from application servers of
-- the AS), kept so that operators and tests can see it arrive (GET /received). Credentials are not stored.
CREATE TABLE received (
  id          bigserial PRIMARY KEY,
  message     integer NOT NULL,
  operation   text NOT NULL,
  params      jsonb NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);
