-- expect: safe
CREATE TABLE coupons (id bigserial PRIMARY KEY, code text NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT now());
