-- Accounts of this AS, created by Messages 1–2 of the account server (clause 8.2). No password is stored:
-- only SCRAM credentials (RFC 5802/7677) for the XMPP login. The verification code is stored hashed.
CREATE TABLE accounts (
  local_part       text PRIMARY KEY,
  kind             text NOT NULL CHECK (kind IN ('user', 'device')),
  scram_sha1       jsonb NOT NULL,
  scram_sha256     jsonb NOT NULL,
  verify_code_hash text,
  device_type      text,
  vendor           text,
  model            text,
  extra            jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CHECK ((kind = 'device') = (local_part LIKE '#%'))
);
