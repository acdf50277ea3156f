-- expect: safe (a new nullable varchar column)
SET lock_timeout = '2s';
ALTER TABLE refunds ADD COLUMN reason varchar(200);
