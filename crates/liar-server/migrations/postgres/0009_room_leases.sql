-- Room ownership by lease (SPEC §6.4 "Failover", issue 14): the owner node renews `lease_until`
-- (milliseconds, the database's clock) every TTL/3; once it has passed, any node may take the
-- room over by a conditional update that bumps `epoch`, which fences off the old owner's saves.
ALTER TABLE rooms ADD COLUMN lease_until BIGINT;
CREATE INDEX rooms_lease ON rooms (lease_until) WHERE state IS NOT NULL;
