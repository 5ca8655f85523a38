-- Daily partitions for the time-series tables.
--
-- With pg_partman (installed beforehand by a superuser in schema "partman", or installable
-- now): partman.create_parent, 4.x or 5.x arguments, 7 days back and 7 ahead; every
-- `brrr db migrate` (and every sink start) runs partman.run_maintenance() to stay ahead.
-- pg_partman is not a trusted extension: a role that is not superuser cannot install it.
-- Without it: brrr_ensure_daily_partitions() below does the same job, natively, on each
-- migrate. Either way a DEFAULT partition catches rows outside the prepared days.

CREATE FUNCTION brrr_ensure_daily_partitions(p_parent regclass, p_days_back integer,
                                             p_days_ahead integer)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
    v_table text := (SELECT relname FROM pg_class WHERE oid = p_parent);
    v_day date;
    v_created integer := 0;
BEGIN
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %s DEFAULT',
                   v_table || '_default', p_parent);
    FOR v_day IN SELECT generate_series(current_date - p_days_back,
                                        current_date + p_days_ahead, interval '1 day')::date
    LOOP
        IF to_regclass(format('%I', v_table || '_p' || to_char(v_day, 'YYYYMMDD'))) IS NULL THEN
            BEGIN
                EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                               v_table || '_p' || to_char(v_day, 'YYYYMMDD'), p_parent,
                               v_day::timestamptz, (v_day + 1)::timestamptz);
                v_created := v_created + 1;
            EXCEPTION WHEN check_violation THEN
                -- rows of that day already sit in the DEFAULT partition: leave them there
                RAISE WARNING 'partition of % for % not created: rows in its DEFAULT partition',
                              v_table, v_day;
            END;
        END IF;
    END LOOP;
    RETURN v_created;
END
$fn$;

DO $partman$
DECLARE
    v_major integer;
    v_start text := to_char(now() - interval '7 days', 'YYYY-MM-DD');
    t record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_partman') THEN
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_partman') THEN
                RAISE EXCEPTION USING ERRCODE = 'undefined_object',
                    MESSAGE = 'pg_partman is not installed on this server';
            END IF;
            CREATE SCHEMA IF NOT EXISTS partman;
            CREATE EXTENSION pg_partman SCHEMA partman;
        EXCEPTION WHEN undefined_object OR insufficient_privilege OR feature_not_supported THEN
            RAISE WARNING 'pg_partman not usable (%): daily partitions made natively', SQLERRM;
            PERFORM brrr_ensure_daily_partitions(tbl::regclass, 7, 7)
               FROM (VALUES ('window_quality'), ('detections'), ('system_metrics'),
                            ('analysis_metrics')) AS v(tbl);
            RETURN;
        END;
    END IF;
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
