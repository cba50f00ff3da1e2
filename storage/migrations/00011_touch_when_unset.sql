-- +goose Up
-- The touch trigger ran a PL/pgSQL call for every updated row, including the hot rows of
-- checkout (orders, points accounts and transfers, enrollments) whose statements set
-- updated_at themselves. It now runs only when an UPDATE leaves updated_at as it was.
-- Two tables with updated_at had no trigger at all: they get one.
-- Replacing a trigger locks its table against writes; on a live database, give up rather
-- than queue every checkout behind a long transaction (run the migration again later).
SET LOCAL lock_timeout = '10s';
-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
	FOR t IN
		SELECT c.relname FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
		WHERE g.tgfoid = 'touch_updated_at'::regproc AND NOT g.tgisinternal
		UNION
		SELECT unnest(ARRAY['token_signing_keys', 'video_keys'])
	LOOP
		EXECUTE format('DROP TRIGGER IF EXISTS %1$s_touch ON %1$I', t);
		EXECUTE format('CREATE TRIGGER %1$s_touch BEFORE UPDATE ON %1$I FOR EACH ROW
			WHEN (OLD.updated_at IS NOT DISTINCT FROM NEW.updated_at) EXECUTE FUNCTION touch_updated_at()', t);
	END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
	FOR t IN
		SELECT c.relname FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
		WHERE g.tgfoid = 'touch_updated_at'::regproc AND NOT g.tgisinternal
	LOOP
		EXECUTE format('DROP TRIGGER %1$s_touch ON %1$I', t);
		IF t NOT IN ('token_signing_keys', 'video_keys') THEN
			EXECUTE format('CREATE TRIGGER %1$s_touch BEFORE UPDATE ON %1$I FOR EACH ROW EXECUTE FUNCTION touch_updated_at()', t);
		END IF;
	END LOOP;
END $$;
-- +goose StatementEnd
