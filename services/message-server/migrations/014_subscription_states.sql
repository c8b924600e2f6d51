-- RFC 6121 subscriptions with servers that are not IRSP ASs (docs/decisions/0026-rfc6121-subscriptions.md). A request
-- from an IRSP account (this AS, or another whose message server marks its subscription stanzas) relates both
-- directions in one approval; one from a plain RFC 6121 server (Prosody, ejabberd) grants only its user's
-- subscription, and our side then asks back. Requests stored before this migration were all taken as mutual.
ALTER TABLE subscription_requests ADD COLUMN mutual boolean NOT NULL DEFAULT true;
