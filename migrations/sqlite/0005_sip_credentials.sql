-- 0005 sip_credentials: agents' phones register with SIP digest
-- authentication (src/sip/digest.rs), which needs MD5(username:realm:password)
-- ("HA1") rather than the Argon2 hash kept for web sign-in. It is set with
-- the password (the API, `hotline user add`), for the configured realm
-- (agents.sip_realm): changing the realm means setting passwords again.
-- HA1 opens SIP registration in this realm only, nothing else (SQLite).
--
-- Keep this file and migrations/postgres/0005_sip_credentials.sql in step.

ALTER TABLE users ADD COLUMN sip_ha1 TEXT;
