-- The database's delivery origin, part of every webhook's delivery id (IRSP-Delivery-Id, docs/protocol.md
-- "Delivery marks"); and the marks of each message received, so that an operator sees retries (GET /received).
-- Both are null for a message sent without marks (another implementation, an application server of the AS).
CREATE TABLE delivery_origin (origin text PRIMARY KEY);
INSERT INTO delivery_origin (origin) VALUES (gen_random_uuid()::text);
ALTER TABLE received ADD COLUMN delivery_id text, ADD COLUMN delivery_attempt integer;
