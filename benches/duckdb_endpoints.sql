-- logsleuth peer measurement: per-endpoint request report computed by DuckDB from the raw corpus.
-- Placeholders replaced by benches/run_duckdb.py: __CORPUS__ (file path), __THREADS__.
--
-- Definitions (what logsleuth's endpoint report computes):
--   request event  = Skreaver tower-http "finished processing request" (JSON or fmt text, ANSI stripped)
--                    | SkillMeat uvicorn access line (runtime JSON, StructuredFormatter JSON, or text prod);
--                    so SkillMeat 429s (access line only) count, and no request is counted twice.
--   latency sample = Skreaver fields.latency ("N ms") | SkillMeat StructuredFormatter
--                    "Request completed" extra.duration_ms (runtime JSON/text carry no duration).
--   route          = path without query; Skreaver: /agents/<anything> -> /agents/{id};
--                    SkillMeat: segments that are a UUID, hex >= 6 chars, all digits, or >= 20 chars -> {id}.
--   envelopes      = kubectl --prefix --timestamps, CRI (containerd/CRI-O, F or P tag), docker json-file,
--                    bare.  CRI P pieces are not re-joined: they only occur on long non-request lines.
SET threads = __THREADS__;

CREATE OR REPLACE MACRO strip_env(line) AS CASE
    WHEN starts_with(line, '{"log":') THEN rtrim(json_extract_string(line, '$.log'), chr(10))
    WHEN starts_with(line, '[pod/') THEN
        regexp_replace(line, '^\[[^\]]*\] (?:\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d) )?', '')
    WHEN regexp_matches(line, '^\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d) (?:stdout|stderr) [PF]')
        THEN regexp_replace(line, '^\S+ \S+ \S+ ', '')
    ELSE line
END;

CREATE OR REPLACE MACRO sm_route(path) AS array_to_string(list_transform(string_split(path, '/'),
    lambda s: CASE WHEN regexp_full_match(s,
        '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{6,}|[0-9]+|.{20,}')
        THEN '{id}' ELSE s END), '/');

WITH raw AS (
    SELECT line FROM read_csv('__CORPUS__', columns = {'line': 'VARCHAR'}, delim = E'\x01', quote = '',
                              escape = '', header = false, auto_detect = false, max_line_size = 4194304)
),
cand AS (   -- cheap substring prefilter; everything else cannot be a request or latency event
    SELECT strip_env(line) AS p FROM raw
    WHERE contains(line, 'finished processing request') OR contains(line, 'uvicorn.access')
       OR contains(line, 'Request completed: ')
),
skr_json AS (
    SELECT 'skreaver' AS svc, json_extract_string(p, '$.span.method') AS method,
           json_extract_string(p, '$.span.uri') AS uri,
           CAST(json_extract_string(p, '$.fields.status') AS INTEGER) AS status,
           CAST(split_part(json_extract_string(p, '$.fields.latency'), ' ', 1) AS DOUBLE) AS lat,
           true AS is_req
    FROM cand
    WHERE starts_with(p, '{"timestamp":"') AND contains(p, '"message":"finished processing request"')
),
skr_text AS (
    SELECT 'skreaver' AS svc, m.method, m.uri, CAST(m.status AS INTEGER) AS status,
           CAST(m.lat AS DOUBLE) AS lat, true AS is_req
    FROM (SELECT regexp_extract(regexp_replace(p, '\x1b\[[0-9;]*m', '', 'g'),
            'request\{method=(\S+) uri=(\S+) version=\S+\}: tower_http::trace::on_response: finished processing request latency=(\d+) ms status=(\d+)',
            ['method', 'uri', 'lat', 'status']) AS m
          FROM cand WHERE NOT starts_with(p, '{') AND contains(p, 'finished processing request'))
    WHERE m.method <> ''
),
sm_json AS (
    SELECT json_extract_string(p, ['$.logger', '$.message', '$.extra.method', '$.extra.path',
                                   '$.extra.duration_ms']) AS f
    FROM cand WHERE starts_with(p, '{"timestamp": "')
),
sm_access AS (
    SELECT 'skillmeat' AS svc, m.method, m.uri, CAST(m.status AS INTEGER) AS status,
           NULL::DOUBLE AS lat, true AS is_req
    FROM (SELECT regexp_extract(f[2], '^\S+:\d+ - "(\S+) (\S+) HTTP/[\d.]+" (\d{3})$',
                                ['method', 'uri', 'status']) AS m
          FROM sm_json WHERE f[1] = 'uvicorn.access'
          UNION ALL
          SELECT regexp_extract(p,
              '^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - uvicorn\.access - \w+ - \S+:\d+ - "(\S+) (\S+) HTTP/[\d.]+" (\d{3})$',
              ['method', 'uri', 'status'])
          FROM cand WHERE NOT starts_with(p, '{') AND contains(p, ' - uvicorn.access - '))
    WHERE m.method <> ''
),
sm_latency AS (
    SELECT 'skillmeat' AS svc, f[3] AS method, f[4] AS uri, NULL::INTEGER AS status,
           CAST(f[5] AS DOUBLE) AS lat, false AS is_req
    FROM sm_json
    WHERE f[1] = 'skillmeat.api.middleware.observability' AND starts_with(f[2], 'Request completed: ')
      AND f[5] IS NOT NULL
),
ev AS (
    SELECT * FROM skr_json UNION ALL SELECT * FROM skr_text
    UNION ALL SELECT * FROM sm_access UNION ALL SELECT * FROM sm_latency
),
norm AS (
    SELECT svc, method, status, lat, is_req,
           CASE WHEN svc = 'skreaver'
                THEN regexp_replace(split_part(uri, '?', 1), '^/agents/[^/]+', '/agents/{id}')
                ELSE sm_route(split_part(uri, '?', 1)) END AS route
    FROM ev
)
SELECT svc AS service, method, route,
       count(*) FILTER (WHERE is_req) AS requests,
       count(*) FILTER (WHERE is_req AND status BETWEEN 400 AND 499) AS "4xx",
       count(*) FILTER (WHERE is_req AND status >= 500) AS "5xx",
       round(quantile_cont(lat, 0.50), 1) AS p50_ms,
       round(quantile_cont(lat, 0.95), 1) AS p95_ms,
       round(quantile_cont(lat, 0.99), 1) AS p99_ms,
       max(lat) AS max_ms,
       count(lat) AS latency_samples
FROM norm
GROUP BY ALL
ORDER BY requests DESC, service, method, route;
