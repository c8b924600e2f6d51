-- The OSAP DAS (docs/decisions/0022-osap-das.md): the highest CONNECT counter it accepted under the device's current
-- session key. A CONNECT must carry a higher one, so a recorded CONNECT cannot be played again on any DAS of the AS;
-- a new session key (first authentication, re-authentication) starts counting again.
ALTER TABLE osap_devices ADD COLUMN das_counter bigint NOT NULL DEFAULT 0;
