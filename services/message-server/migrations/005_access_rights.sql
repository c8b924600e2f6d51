-- Device access rights (14543-5-8 §9). A device has at most one owner: a user bound to it (the first one to bind,
-- or whom the owner hands it to). The owner grants or withdraws, per related user, the right to send the device
-- commands; a row here is a granted right. Users are bare JIDs, since a device's users may be of another AS.
CREATE TABLE device_owners (
  device     text PRIMARY KEY REFERENCES accounts (local_part) ON DELETE CASCADE,
  owner      text NOT NULL,
  since      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE access_rights (
  device     text NOT NULL REFERENCES accounts (local_part) ON DELETE CASCADE,
  user_jid   text NOT NULL,
  granted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (device, user_jid)
);
CREATE INDEX access_rights_user ON access_rights (user_jid);
