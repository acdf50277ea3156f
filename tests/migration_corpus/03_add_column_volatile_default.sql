-- expect: dangerous (volatile default rewrites the table)
SET lock_timeout = '2s';
ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();
