-- expect: safe (the file's own BEGIN/COMMIT is recorded, not run inside the trace)
BEGIN;
SET LOCAL lock_timeout = '2s';
ALTER TABLE users ADD COLUMN nickname text;
COMMIT;
