-- expect: safe (PG 11+: a constant default needs no rewrite)
SET lock_timeout = '2s';
ALTER TABLE orders ADD COLUMN channel text NOT NULL DEFAULT 'web';
