-- +goose Up
-- Every spend and award updates a system account's running totals, and holding that row
-- locked until commit made all checkouts take turns. Each system account is spread over
-- 32 rows ('code' and 'code#1' .. 'code#31'); a user's transfers always use the same
-- shard, chosen by user id. The ledger still balances over all rows.
INSERT INTO points_accounts (code, kind)
SELECT base || '#' || n, 'system'
FROM unnest(ARRAY['system:issuance', 'system:spent']) AS base, generate_series(1, 31) AS n;

-- +goose Down
DELETE FROM points_accounts WHERE kind = 'system' AND code LIKE 'system:%#%';
