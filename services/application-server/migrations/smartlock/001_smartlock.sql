-- The smart-lock application (RAS, ISO/IEC 14543-5-104 clause 6.2): its users, their gateways and locks, grants,
-- commands on their way and the audit log. Our design (docs/smartlock.md).

-- 7.1/7.2: IRSP users who joined the application; the PIN (a hash) confirms sensitive operations until step_up_until.
CREATE TABLE smartlock_users (
  userid          text PRIMARY KEY,
  display_name    text NOT NULL,
  pin_hash        text NOT NULL,
  step_up_until   timestamptz,
  failures        integer NOT NULL DEFAULT 0,
  failures_since  timestamptz,
  registered_at   timestamptz NOT NULL DEFAULT now()
);

-- BGWs (IRSP devices of the AS): the owner the gateway reports (Message 9 `hello`), online from Messages 10/11.
CREATE TABLE smartlock_gateways (
  deviceid   text PRIMARY KEY,
  owner      text,
  online     boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- A BSLD's factory record (imported by the operator): the activation code shipped with it (a hash), its key, and
-- the last frame counter used with it (the lock remembers the last one it accepted for its whole life).
CREATE TABLE smartlock_factory_records (
  lock_id         text PRIMARY KEY,
  model           text NOT NULL,
  firmware        text NOT NULL,
  activation_hash text NOT NULL,
  key_id          integer NOT NULL,
  key             bytea NOT NULL,
  counter         bigint NOT NULL DEFAULT 0
);

-- 7.4: a user who proved the activation code may register the lock until expires_at.
CREATE TABLE smartlock_claims (
  lock_id    text NOT NULL REFERENCES smartlock_factory_records (lock_id),
  userid     text NOT NULL,
  gateway    text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (lock_id, userid)
);

-- Registered locks: owner, gateway, and what the lock last reported.
CREATE TABLE smartlock_locks (
  lock_id       text PRIMARY KEY REFERENCES smartlock_factory_records (lock_id),
  owner         text NOT NULL,
  gateway       text NOT NULL,
  name          text NOT NULL,
  bolt          text,
  battery       integer,
  registered_at timestamptz NOT NULL DEFAULT now()
);

-- Sharing: the grantee may operate the lock in [valid_from, valid_until).
CREATE TABLE smartlock_grants (
  lock_id     text NOT NULL REFERENCES smartlock_locks (lock_id) ON DELETE CASCADE,
  grantee     text NOT NULL,
  valid_from  timestamptz NOT NULL,
  valid_until timestamptz NOT NULL,
  PRIMARY KEY (lock_id, grantee)
);

-- What was sent to a gateway and not yet answered: `p<id>` is the request id the gateway echoes, `request_id` the
-- RAC's; what to do with the answer, and until when to wait for it.
CREATE TABLE smartlock_pending (
  id         bigserial PRIMARY KEY,
  request_id text NOT NULL,
  userid     text NOT NULL,
  operation  text NOT NULL,
  lock_id    text,
  gateway    text NOT NULL,
  counter    bigint,
  detail     jsonb NOT NULL DEFAULT '{}',
  wait_until timestamptz NOT NULL
);
CREATE INDEX smartlock_pending_wait ON smartlock_pending (wait_until);

-- Every operation on a lock, for its owner to read (auditLog).
CREATE TABLE smartlock_audit (
  id      bigserial PRIMARY KEY,
  lock_id text NOT NULL,
  userid  text NOT NULL,
  action  text NOT NULL,
  status  integer NOT NULL,
  at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX smartlock_audit_lock ON smartlock_audit (lock_id, at DESC);
