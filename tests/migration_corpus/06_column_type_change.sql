-- expect: dangerous (type change rewrites the table and breaks old code)
SET lock_timeout = '2s';
ALTER TABLE payments ALTER COLUMN amount TYPE numeric(20, 2);
