-- +goose Up
-- A test archive's object key, chosen at upload with a random part: ids alone repeat
-- across databases that share a bucket (a reset database, test databases), and an
-- upload must never overwrite an archive another database still reads.
ALTER TABLE problems ADD COLUMN tests_key text NOT NULL DEFAULT '';
-- Archives uploaded before this migration live under the keys of the time.
UPDATE problems SET tests_key = format('judge/problems/%s/tests-v%s.zip', id, tests_version) WHERE tests_version > 0;

-- +goose Down
ALTER TABLE problems DROP COLUMN tests_key;
