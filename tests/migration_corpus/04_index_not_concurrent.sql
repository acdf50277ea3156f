-- expect: dangerous (ShareLock blocks writes while the index builds)
CREATE INDEX orders_created_idx ON orders (created_at);
