-- Room ownership by lease (SPEC §6.4 "Failover", issue 14), as postgres/0009: the owner node
-- renews `lease_until` (milliseconds, the database's clock) every TTL/3; once it has passed, any
-- node may take the room over by a conditional update that bumps `epoch`.
ALTER TABLE rooms ADD COLUMN lease_until BIGINT NULL, ADD KEY rooms_lease (lease_until);
