-- expect: dangerous (validating FK blocks writes on both tables)
SET lock_timeout = '2s';
ALTER TABLE payments ADD CONSTRAINT payments_order_fk FOREIGN KEY (razorpay_order_id) REFERENCES orders (razorpay_order_id);
