-- expect: dangerous (old code uses the old name)
SET lock_timeout = '2s';
ALTER TABLE orders RENAME COLUMN receipt TO receipt_ref;
