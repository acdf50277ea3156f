-- expect: dangerous (no lock_timeout: queues behind any long transaction, and everything behind it)
ALTER TABLE users ADD COLUMN nickname text;
