-- Usernames are unique after Unicode NFC and case folding (SPEC §1.1), not just lower-casing:
-- the comparison key is computed by the server (`domain::username_key`) and kept unique here.
-- utf8mb4_bin: the key is compared byte for byte (the server already folded it).
ALTER TABLE members ADD COLUMN username_key VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;
UPDATE members SET username_key = LOWER(username) WHERE username REGEXP '^[ -~]*$';
ALTER TABLE members DROP INDEX members_username_uq;
ALTER TABLE members ADD UNIQUE KEY members_username_key_uq (username_key);
