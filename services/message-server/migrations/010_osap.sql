-- OSAP device access (docs/decisions/0020-osap-lbs.md). The share key of a device is derived from its verification
-- code when the code arrives in clear (Messages 2 and 4, the reset iq) and kept instead of it: PBKDF2 output with the
-- rounds it took. Whoever reads it can authenticate as the device at the LBS, like a password's SCRAM keys.
ALTER TABLE accounts ADD COLUMN osap_share_key bytea;
ALTER TABLE accounts ADD COLUMN osap_share_key_iterations integer;

-- The DevID an LBS issued to a device at its first authentication, with the master key agreed by ECDH and the
-- session key of its latest (re-)authentication. One per device: a new first authentication replaces it; a new
-- verification code and the device's removal delete it.
CREATE TABLE osap_devices (
  dev_id       text PRIMARY KEY,
  local_part   text NOT NULL UNIQUE REFERENCES accounts (local_part) ON DELETE CASCADE,
  master_key   bytea NOT NULL,
  session_key  bytea NOT NULL,
  issued_at    timestamptz NOT NULL DEFAULT now(),
  refreshed_at timestamptz NOT NULL DEFAULT now()
);
