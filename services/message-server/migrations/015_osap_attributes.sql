-- OSAP attribute reports (docs/decisions/0027-osap-bridge.md): the last value a device reported for each of its
-- attributes, kept across its connections and read by its related accounts over XMPP (urn:irsp:osap:0). A device
-- has at most a few hundred (das-server.ts bounds them); its removal takes them with it.
CREATE TABLE osap_attributes (
  local_part  text NOT NULL REFERENCES accounts (local_part) ON DELETE CASCADE,
  name        text NOT NULL,
  value       text NOT NULL,
  reported_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (local_part, name)
);
