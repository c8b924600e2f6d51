-- Which message server holds a row's lease (src/outbox.ts): the rows of a server found dead, or of this server's
-- previous life, are delivered at once rather than when their leases end (docs/decisions/0024-cluster-on-nats.md).
ALTER TABLE outbox ADD COLUMN leased_by text;
