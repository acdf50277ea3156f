-- expect: dangerous (old code still uses it)
SET lock_timeout = '2s';
DROP TABLE refunds;
