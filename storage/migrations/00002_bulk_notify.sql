-- +goose Up
-- A statement that touches thousands of rows is a bulk load: say 'all' after a count
-- instead of collecting the distinct course ids of millions of rows.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION notify_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	col text := TG_ARGV[0];
	src text := CASE WHEN TG_OP = 'DELETE' THEN 'old_rows' ELSE 'new_rows' END;
	n bigint;
	ids bigint[];
	payload text;
BEGIN
	IF col = 'all' THEN
		PERFORM pg_notify('catalog_changed', 'all');
		RETURN NULL;
	END IF;
	EXECUTE format('SELECT count(*) FROM %I', src) INTO n;
	IF n = 0 THEN
		RETURN NULL;
	END IF;
	IF n > 5000 THEN
		PERFORM pg_notify('catalog_changed', 'all');
		RETURN NULL;
	END IF;
	IF TG_OP = 'UPDATE' THEN
		EXECUTE format('SELECT array_agg(DISTINCT c) FROM (SELECT %1$I AS c FROM old_rows UNION SELECT %1$I FROM new_rows) u', col) INTO ids;
	ELSE
		EXECUTE format('SELECT array_agg(DISTINCT %I) FROM %I', col, src) INTO ids;
	END IF;
	IF cardinality(ids) > 500 THEN
		payload := 'all';
	ELSE
		payload := 'course:' || array_to_string(ids, ',');
	END IF;
	PERFORM pg_notify('catalog_changed', payload);
	RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose Down
SELECT 1;
