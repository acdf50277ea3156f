-- golive: step 2 of 2 (the app stopped reading payments.method in v1.3.0)
SET LOCAL lock_timeout = '2s';
ALTER TABLE payments DROP COLUMN method;
