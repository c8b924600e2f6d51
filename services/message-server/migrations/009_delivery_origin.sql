-- The database's delivery origin: part of every delivery id the outbox sends (IRSP-Delivery-Id, docs/protocol.md
-- "Delivery marks"), so that ids stay unique when the database is replaced (row ids start again) and differ
-- between databases, while every message server sharing this database sends the same id for the same row.
CREATE TABLE delivery_origin (origin text PRIMARY KEY);
INSERT INTO delivery_origin (origin) VALUES (gen_random_uuid()::text);
