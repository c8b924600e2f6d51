-- Nonces of signed requests (Messages 14–15 from application servers of other ASs, the third-party gateway's
-- Table 8), kept until their timestamp has left the window, so that a captured request cannot be replayed.
CREATE TABLE nonces (
  scope      text NOT NULL,
  nonce      text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (scope, nonce)
);
CREATE INDEX nonces_expiry ON nonces (expires_at);
