-- Usernames are unique after Unicode NFC and case folding (SPEC §1.1), not just lower-casing:
-- the comparison key is computed by the server (`domain::username_key`) and kept unique here.
ALTER TABLE members ADD COLUMN username_key TEXT;
UPDATE members SET username_key = lower(username) WHERE username ~ '^[ -~]*$';
DROP INDEX members_username_uq;
CREATE UNIQUE INDEX members_username_key_uq ON members (username_key);
