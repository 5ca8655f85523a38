-- Daily partitions for the time-series tables, created and kept ahead by pg_partman (in its
-- own schema "partman"; 4.x and 5.x differ in create_parent's arguments). Without pg_partman
-- (or without the right to install it), every table gets a DEFAULT partition instead, so
-- inserts never fail; `brrr db migrate` runs partman.run_maintenance() each time.
DO $partman$
DECLARE
    v_major integer;
    v_start text := to_char(now() - interval '7 days', 'YYYY-MM-DD');
    t record;
BEGIN
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_partman') THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object',
                MESSAGE = 'pg_partman is not installed on this server';
        END IF;
        CREATE SCHEMA IF NOT EXISTS partman;
        CREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA partman;
    EXCEPTION WHEN undefined_object OR insufficient_privilege OR feature_not_supported THEN
        RAISE WARNING 'no pg_partman (%): time-series rows go to DEFAULT partitions', SQLERRM;
        FOR t IN SELECT * FROM (VALUES ('window_quality'), ('detections'), ('system_metrics'),
                                       ('analysis_metrics')) AS v(tbl) LOOP
            EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I DEFAULT',
                           t.tbl || '_default', t.tbl);
        END LOOP;
        RETURN;
    END;
    SELECT split_part(extversion, '.', 1)::integer INTO v_major
      FROM pg_extension WHERE extname = 'pg_partman';
    FOR t IN SELECT * FROM (VALUES ('public.window_quality', 'window_start'),
                                   ('public.detections', 'start_time'),
                                   ('public.system_metrics', 'time'),
                                   ('public.analysis_metrics', 'time')) AS v(tbl, col) LOOP
        IF v_major >= 5 THEN
            PERFORM partman.create_parent(p_parent_table => t.tbl, p_control => t.col,
                                          p_interval => '1 day', p_premake => 7,
                                          p_start_partition => v_start);
        ELSE
            PERFORM partman.create_parent(p_parent_table => t.tbl, p_control => t.col,
                                          p_type => 'native', p_interval => '1 day',
                                          p_premake => 7, p_start_partition => v_start);
        END IF;
    END LOOP;
END
$partman$;
