-- expect: dangerous (scans under AccessExclusiveLock)
SET lock_timeout = '2s';
ALTER TABLE refunds ADD CONSTRAINT refunds_amount_positive CHECK (amount > 0);
