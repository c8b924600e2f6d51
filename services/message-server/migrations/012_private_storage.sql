-- XEP-0049 Private XML Storage (and XEP-0048 bookmarks through it): one XML element per namespace per account, as
-- the client stored it. Bounded per account by the server (docs/decisions/0025-client-extensions.md); gone with
-- the account (Message 5/6).
CREATE TABLE private_storage (
  owner      text NOT NULL REFERENCES accounts (local_part) ON DELETE CASCADE,
  namespace  text NOT NULL,
  element    text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (owner, namespace)
);
