-- Usernames are unique after Unicode NFC and case folding (SPEC §1.1), not just ASCII case:
-- the comparison key is computed by the server (`domain::username_key`) and kept unique here.
ALTER TABLE members ADD COLUMN username_key TEXT;
-- Printable-ASCII names: NFC changes nothing and case folding is lower-casing. The old index
-- (ASCII NOCASE) kept these unique. Other names are keyed by the server when it starts.
UPDATE members SET username_key = lower(username) WHERE username NOT GLOB '*[^ -~]*';
DROP INDEX members_username_uq;
CREATE UNIQUE INDEX members_username_key_uq ON members (username_key);
