-- Throttling of secret guessing (docs/decisions/0010-guessing-throttle.md), shared by every account server
-- instance: failed (or not yet confirmed) password checks of the client account API by account and source address,
-- kept for one sliding window; and the source addresses that recently succeeded for an account ("known"), which a
-- guesser elsewhere cannot lock out.
CREATE TABLE guess_failures (
  id     bigserial PRIMARY KEY,
  scope  text NOT NULL,
  target text NOT NULL,
  source text NOT NULL,
  -- whether the source was known for the target when it failed: such failures do not spend the target's budget
  known  boolean NOT NULL,
  at_ms  bigint NOT NULL
);
CREATE INDEX guess_failures_target ON guess_failures (scope, target, at_ms);
CREATE INDEX guess_failures_source ON guess_failures (scope, source, at_ms);
CREATE INDEX guess_failures_age ON guess_failures (scope, at_ms);

CREATE TABLE guess_known_sources (
  scope           text NOT NULL,
  target          text NOT NULL,
  source          text NOT NULL,
  last_success_ms bigint NOT NULL,
  PRIMARY KEY (scope, target, source)
);
