-- expect: safe (the unique index is built CONCURRENTLY, then the constraint takes it over)
CREATE UNIQUE INDEX CONCURRENTLY orders_receipt_idx ON orders (receipt);
SET lock_timeout = '2s';
ALTER TABLE orders ADD CONSTRAINT orders_receipt_key UNIQUE USING INDEX orders_receipt_idx;
