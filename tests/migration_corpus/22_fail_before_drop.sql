-- expect: dangerous (fails on the copy, and drops a column the trace never reached)
SET lock_timeout = '2s';
ALTER TABLE payments ADD COLUMN settlement_id bigint REFERENCES settlements (id);
ALTER TABLE payments DROP COLUMN method;
