-- expect: dangerous (PostgreSQL refuses CREATE INDEX CONCURRENTLY inside the file's transaction block)
BEGIN;
CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);
COMMIT;
