-- The OSAP DAS (docs/decisions/0022-osap-das.md): the highest CONNECT counter it accepted under the device's current
-- session key. A CONNECT must carry a higher one, so a recorded CONNECT cannot be played again on any DAS of the AS;
-- a new session key (first authentication, re-authentication) starts counting again.
ALTER TABLE osap_devices ADD COLUMN das_counter bigint NOT NULL DEFAULT 0;

-- The counter of the platform's last business payload to the device (operations on its `down` topics) under the
-- current session key: the next is one more, taken in one statement, so that every DAS of the AS counts on from it
-- and the device, which accepts only increasing counters, never refuses a fresh one.
ALTER TABLE osap_devices ADD COLUMN das_down_counter bigint NOT NULL DEFAULT 0;
