-- Every user and device account of the IRSP (clause 7.1 a). The primary key on the local part is the global
-- uniqueness of clause 7.1 b. An account is 'pending' while Message 1/2 is in flight, 'active' once its
-- message server has it, and 'removing' while Message 5/6 is in flight; the reconciler finishes what a
-- failure left pending or removing (docs/consistency.md).
CREATE TABLE accounts (
  local_part       text PRIMARY KEY,
  kind             text NOT NULL CHECK (kind IN ('user', 'device')),
  domain           text NOT NULL,
  state            text NOT NULL CHECK (state IN ('pending', 'active', 'removing')),
  password_hash    text NOT NULL,
  verify_code_hash text,
  device_type      text,
  vendor           text,
  model            text,
  extra            jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CHECK ((kind = 'device') = (local_part LIKE '#%'))
);
CREATE INDEX accounts_unsettled ON accounts (state, updated_at) WHERE state <> 'active';

-- Disagreements between this server and a message server that it found and could not mend by itself.
CREATE TABLE divergences (
  id          bigserial PRIMARY KEY,
  local_part  text NOT NULL,
  domain      text NOT NULL,
  detail      text NOT NULL,
  detected_at timestamptz NOT NULL DEFAULT now()
);
