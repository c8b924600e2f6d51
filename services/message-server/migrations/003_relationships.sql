-- Relationships (14543-5-8 §10) as rosters (RFC 6121 §2): one row per direction. An IRSP relationship — bundle
-- (user–user), binding (user–device), sibling (device–device) — exists when both rows say 'both'.
CREATE TABLE roster (
  owner        text NOT NULL REFERENCES accounts (local_part) ON DELETE CASCADE,
  contact      text NOT NULL,
  name         text,
  subscription text NOT NULL DEFAULT 'none' CHECK (subscription IN ('none', 'to', 'from', 'both')),
  ask          boolean NOT NULL DEFAULT false,
  groups       jsonb NOT NULL DEFAULT '[]'::jsonb,
  PRIMARY KEY (owner, contact)
);
CREATE INDEX roster_contact ON roster (contact);

-- Requests waiting for the target's approval (RFC 6121 §3.1.3: kept until answered, delivered at login).
CREATE TABLE subscription_requests (
  owner      text NOT NULL REFERENCES accounts (local_part) ON DELETE CASCADE,
  requester  text NOT NULL,
  status     text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (owner, requester)
);
