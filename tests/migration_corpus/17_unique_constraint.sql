-- expect: dangerous (builds a unique index under ShareLock)
SET lock_timeout = '2s';
ALTER TABLE orders ADD CONSTRAINT orders_receipt_key UNIQUE (receipt);
