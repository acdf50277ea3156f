"""The rows the migration corpus (tests/migration_corpus) is judged against: 5,000 in each of the app's payment
tables, so size-dependent verdicts (locks held, rewrites, constraints validated) are real. Shared by the corpus
tests and bench/migration_dry_run.py."""

PAYMENT_TABLE_ROWS = """
insert into users (username, password_hash) select 'u' || i, 'x' from generate_series(1, 5000) i;
insert into orders (razorpay_order_id, amount, currency, receipt)
    select 'order_' || i, 100, 'INR', 'r' || i from generate_series(1, 5000) i;
insert into payments (razorpay_payment_id, razorpay_order_id, amount, currency, status)
    select 'pay_' || i, 'order_' || i, 100, 'INR', 'captured' from generate_series(1, 5000) i;
insert into refunds (razorpay_refund_id, razorpay_payment_id, amount, currency, status)
    select 'rfnd_' || i, 'pay_' || i, 100, 'INR', 'processed' from generate_series(1, 5000) i;
"""
