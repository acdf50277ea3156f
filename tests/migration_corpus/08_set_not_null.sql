-- expect: dangerous (scans the table under AccessExclusiveLock; old writers may send NULL)
SET lock_timeout = '2s';
ALTER TABLE orders ALTER COLUMN receipt SET NOT NULL;
