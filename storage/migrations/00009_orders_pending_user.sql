-- +goose Up
-- A new order checks that none of the buyer's pending orders holds the same course. The
-- only index on pending orders was by expiry, so that check read every pending order of
-- every user: fine on a quiet day, a scan of thousands of rows per order during a sale.
CREATE INDEX orders_pending_user ON orders (user_id) WHERE status = 'pending';

-- +goose Down
DROP INDEX orders_pending_user;
