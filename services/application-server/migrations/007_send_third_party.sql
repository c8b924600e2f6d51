-- Messages 14–15 in the AS may name a third party of the target's gateway (clause 8.8; docs/protocol.md, "The third
-- party of Messages 14–15"): the one the message is for. NULL for every other message.
ALTER TABLE send_outbox ADD COLUMN third_party text;
ALTER TABLE send_dead_letters ADD COLUMN third_party text;
