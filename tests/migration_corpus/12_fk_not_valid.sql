-- expect: safe (NOT VALID, validated later)
SET lock_timeout = '2s';
ALTER TABLE payments ADD CONSTRAINT payments_order_fk FOREIGN KEY (razorpay_order_id) REFERENCES orders (razorpay_order_id) NOT VALID;
