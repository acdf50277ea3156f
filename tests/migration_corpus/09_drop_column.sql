-- expect: dangerous (old code still reads it)
SET lock_timeout = '2s';
ALTER TABLE payments DROP COLUMN method;
