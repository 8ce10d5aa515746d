//! The Postgres protocol with real clients: `psql` (simple protocol, text results, TLS)
//! and psycopg 3 (extended protocol, named prepared statements, binary results), plus
//! Grafana's connection sequence and a dashboard query, and the query limits.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{TestServer, fixture, python, script};
use serde_json::{Value, json};

/// Runs `psql` with unaligned, tuples-only output; returns (success, stdout, stderr).
fn psql(server: &TestServer, extra: &[&str], sql: &str) -> (bool, String, String) {
    psql_to(
        &server.pg.expect("postgres enabled").to_string(),
        extra,
        sql,
    )
}

fn psql_to(addr: &str, extra: &[&str], sql: &str) -> (bool, String, String) {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let output = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1"])
        .args(["-v", "VERBOSITY=verbose"])
        .args(["-h", host, "-p", port, "-U", "vigil", "-d", "vigil"])
        .args(extra)
        .args(["-c", sql])
        .env_remove("PGPASSWORD")
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql is installed (.ci/run installs postgresql-client)");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn psql_ok(server: &TestServer, sql: &str) -> String {
    let (ok, out, err) = psql(server, &[], sql);
    assert!(ok, "psql {sql:?} failed: {err}");
    out
}

/// Runs steps through tests/python/pg_client.py (psycopg 3).
fn psycopg(server: &TestServer, args: &[&str], steps: &Value) -> Value {
    let addr = server.pg.expect("postgres enabled");
    let mut child = Command::new(python())
        .arg(script("pg_client.py"))
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(steps.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "pg_client.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "pg_client.py output ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn send_fixture(server: &TestServer, signal: &str, file: &str) {
    let response = common::post(
        &server.url(&format!("/v1/{signal}")),
        "application/json",
        &[],
        &fixture(file),
    );
    assert_eq!(response.status, 200, "{file}: {}", response.text());
}

/// OTLP/JSON with `count` spans per service, one a minute from `start_secs`.
fn spans_request(services: &[&str], start_secs: u64, count: u64) -> Value {
    padded_spans_request(services, start_secs, count, 0)
}

/// The same, each span carrying a `gen_ai.prompt` of `padding` characters.
fn padded_spans_request(services: &[&str], start_secs: u64, count: u64, padding: usize) -> Value {
    let resource_spans: Vec<Value> = services
        .iter()
        .map(|service| {
            let spans: Vec<Value> = (0..count)
                .map(|i| {
                    let start = (start_secs + i * 60) * 1_000_000_000;
                    json!({
                        "traceId": format!("{:032x}", i + 1),
                        "spanId": format!("{:016x}", i + 1),
                        "name": "chat claude",
                        "kind": 3,
                        "startTimeUnixNano": start.to_string(),
                        "endTimeUnixNano": (start + 250_000_000).to_string(),
                        "attributes": [
                            {"key": "gen_ai.request.model", "value": {"stringValue": "claude"}},
                            {"key": "duration_ms", "value": {"stringValue": "250"}},
                            {"key": "gen_ai.prompt", "value": {"stringValue": "p".repeat(padding)}}
                        ]
                    })
                })
                .collect();
            json!({
                "resource": {"attributes": [
                    {"key": "service.name", "value": {"stringValue": service}}
                ]},
                "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]
            })
        })
        .collect();
    json!({ "resourceSpans": resource_spans })
}

fn send_spans(server: &TestServer, request: &Value) {
    let response = server.post_json("/v1/traces", request);
    assert_eq!(response.status, 200, "{}", response.text());
}

fn column(result: &Value, row: usize, col: usize) -> &Value {
    &result["rows"][row][col]
}

#[test]
fn psql_queries_types_nulls_and_errors_over_the_simple_protocol() {
    let server = TestServer::start();
    send_fixture(&server, "traces", "opentelemetry-proto/trace.json");

    assert_eq!(psql_ok(&server, "SELECT count(*) FROM spans"), "1");
    assert_eq!(
        psql_ok(
            &server,
            "SELECT name, kind, start_time, duration_ns, start_time_unix_nano, parent_span_id \
             FROM spans"
        ),
        "I'm a server span|SERVER|2018-12-13 14:51:00.000000+00|1000000000|1544712660000000000|eee19b7ec3c1b173"
    );
    // NULLs print as empty fields; booleans as t/f, as PostgreSQL prints them.
    assert_eq!(
        psql_ok(&server, "SELECT NULL AS a, NULL IS NULL, false FROM spans"),
        "|t|f"
    );
    // Several statements in one query string answer in order.
    assert_eq!(psql_ok(&server, "SELECT 1; SELECT 'two'"), "1\ntwo");
    // A comment alone is PostgreSQL's empty query (Grafana's and pgx's ping).
    assert_eq!(psql_ok(&server, "-- ping"), "");
    assert_eq!(psql_ok(&server, "SHOW server_version"), "15.0");
    assert!(
        psql_ok(&server, "SELECT version()").starts_with("PostgreSQL 15.0 (Vigil "),
        "clients parse the version from PostgreSQL's shape"
    );
    assert_eq!(
        psql_ok(&server, "SELECT quote_ident('Spans'), current_user"),
        "\"Spans\"|vigil"
    );
    // Session commands are accepted and SET is read back.
    assert_eq!(
        psql_ok(
            &server,
            "BEGIN; SET application_name = 'dash'; SELECT current_setting('application_name'); COMMIT"
        ),
        "dash"
    );

    // psql's own catalog query for \dt (OPERATOR(pg_catalog.~), COLLATE, pg_catalog).
    let tables = psql_ok(&server, "\\dt");
    for table in [
        "spans",
        "logs",
        "metrics",
        "histograms",
        "exp_histograms",
        "summaries",
    ] {
        assert!(
            tables.contains(&format!("public|{table}|table|vigil")),
            "{tables}"
        );
    }

    let (ok, _, err) = psql(&server, &[], "SELECT * FROM no_such_table");
    assert!(!ok);
    assert!(err.contains("42P01"), "{err}");
    let (ok, _, err) = psql(&server, &[], "SELEC 1");
    assert!(!ok);
    assert!(err.contains("42601"), "{err}");
    let (ok, _, err) = psql(&server, &[], "DROP TABLE spans");
    assert!(!ok);
    assert!(err.contains("25006") && err.contains("read-only"), "{err}");
    // The server is unharmed.
    assert_eq!(psql_ok(&server, "SELECT count(*) FROM spans"), "1");
}

#[test]
fn psycopg_prepared_statements_round_trip_values_in_binary_and_text() {
    let server = TestServer::start();
    send_fixture(&server, "traces", "opentelemetry-proto/trace.json");
    send_fixture(&server, "metrics", "opentelemetry-proto/metrics.json");
    let steps = json!([
        {"sql": "SELECT name, start_time, duration_ns, start_time_unix_nano, dropped_attributes_count, trace_id \
                 FROM spans WHERE duration_ns >= %s", "params": [1_000_000_000i64]},
        {"sql": "SELECT count(*) AS n FROM spans WHERE start_time >= %s AND service_name = %s",
         "params": ["ts:2018-12-13T14:50:59+00:00", "my.service"]},
        {"sql": "SELECT bucket_counts, explicit_bounds, count, sum FROM histograms"},
        {"sql": "SELECT histogram_quantile(0.5, bucket_counts, explicit_bounds) AS p50 FROM histograms"},
        {"sql": "SELECT true AS b, CAST(NULL AS DOUBLE) AS x, string_to_array('a,b', ',') AS arr, \
                 arrow_cast('ff00', 'Binary') AS raw, CAST(2.5 AS REAL) AS r"},
        {"sql": "SELECT * FROM no_such_table"},
        {"sql": "DELETE FROM spans"},
        {"sql": "SELECT %s::text || '!' AS echoed", "params": ["it's"]},
        // Numerics stay exact beyond 28 digits and at any scale, both ways.
        {"sql": "SELECT CAST('12345678901234567890.12' AS DECIMAL(38, 2)) AS d, \
                 CAST(%s AS DECIMAL(38, 2)) AS p, CAST(18446744073709551615 AS DECIMAL(20, 0)) AS u",
         "params": [{"decimal": "12345678901234567890123.45"}]},
        // A parameter the query does not type is text, as described.
        {"sql": "SELECT %s AS v", "params": [5]},
        // Timestamps Vigil cannot hold are refused, not turned into NULL.
        {"sql": "SELECT count(*) FROM spans WHERE start_time > %s", "params": ["ts:1600-01-01T00:00:00+00:00"]},
        // A placeholder number no Bind could ever fill is refused at once.
        {"sql": "SELECT $4294967296::int"},
    ]);
    for args in [&[][..], &["--text"][..]] {
        let out = psycopg(&server, args, &steps);
        assert_eq!(out["connected"], true, "{out}");
        let r = &out["results"];

        // Types as PostgreSQL names them: text, timestamptz, int8, numeric, int8, text.
        let types: Vec<i64> = r[0]["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c[1].as_i64().unwrap())
            .collect();
        assert_eq!(types, vec![25, 1184, 20, 1700, 20, 25], "{args:?}");
        assert_eq!(column(&r[0], 0, 0), &json!({"str": "I'm a server span"}));
        assert_eq!(
            column(&r[0], 0, 1),
            &json!({"datetime": "2018-12-13T14:51:00+00:00"})
        );
        assert_eq!(column(&r[0], 0, 2), &json!({"int": 1_000_000_000i64}));
        assert_eq!(
            column(&r[0], 0, 3),
            &json!({"decimal": "1544712660000000000"})
        );
        assert_eq!(column(&r[0], 0, 4), &json!({"int": 0}));
        assert_eq!(
            column(&r[0], 0, 5),
            &json!({"str": "5b8efff798038103d269b633813fc60c"})
        );

        assert_eq!(column(&r[1], 0, 0), &json!({"int": 1}), "{args:?}");

        assert_eq!(
            column(&r[2], 0, 0),
            &json!({"list": [{"decimal": "1"}, {"decimal": "1"}]})
        );
        assert_eq!(column(&r[2], 0, 1), &json!({"list": [{"float": 1.0}]}));
        assert_eq!(column(&r[2], 0, 2), &json!({"decimal": "2"}));
        assert_eq!(column(&r[2], 0, 3), &json!({"float": 2.0}));

        // Buckets (0,1] and (1,+inf) with one each: the median is the first bound.
        assert_eq!(column(&r[3], 0, 0), &json!({"float": 1.0}));

        assert_eq!(column(&r[4], 0, 0), &json!({"bool": true}));
        assert_eq!(column(&r[4], 0, 1), &Value::Null);
        assert_eq!(
            column(&r[4], 0, 2),
            &json!({"list": [{"str": "a"}, {"str": "b"}]})
        );
        assert_eq!(column(&r[4], 0, 3), &json!({"bytes": "66663030"}));
        assert_eq!(column(&r[4], 0, 4), &json!({"float": 2.5}));

        assert_eq!(r[5]["error"]["sqlstate"], "42P01", "{}", r[5]);
        assert_eq!(r[6]["error"]["sqlstate"], "25006", "{}", r[6]);
        assert_eq!(column(&r[7], 0, 0), &json!({"str": "it's!"}));
        assert_eq!(
            column(&r[8], 0, 0),
            &json!({"decimal": "12345678901234567890.12"})
        );
        assert_eq!(
            column(&r[8], 0, 1),
            &json!({"decimal": "12345678901234567890123.45"})
        );
        assert_eq!(
            column(&r[8], 0, 2),
            &json!({"decimal": "18446744073709551615"})
        );
        assert_eq!(column(&r[9], 0, 0), &json!({"str": "5"}), "{args:?}");
        assert_eq!(r[10]["error"]["sqlstate"], "22008", "{}", r[10]);
        assert_eq!(r[11]["error"]["sqlstate"], "54001", "{}", r[11]);
    }
}

#[test]
fn grafana_connection_sequence_and_time_series_query_succeed() {
    let server = TestServer::start();
    // 2024-05-01T10:00:00Z, three services, a span a minute for ten minutes.
    let start = 1_714_557_600u64;
    send_spans(
        &server,
        &spans_request(&["planner", "coder", "reviewer"], start, 10),
    );

    // What Grafana's PostgreSQL data source sends, with its macros expanded as Grafana
    // expands them ($__timeGroupAlias, $__timeFilter, $__time, $__unixEpochFilter).
    let search_path_schemas = "quote_ident(table_schema) IN ( SELECT CASE WHEN trim(s[i]) = '\"$user\"' \
        THEN user ELSE trim(s[i]) END FROM generate_series( \
        array_lower(string_to_array(current_setting('search_path'),','),1), \
        array_upper(string_to_array(current_setting('search_path'),','),1) ) as i, \
        string_to_array(current_setting('search_path'),',') s )";
    let steps = json!([
        {"sql": "-- ping"},
        {"sql": "SELECT current_setting('server_version_num')::int/100 as version"},
        {"sql": "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"},
        {"sql": "SELECT schema_name AS \"name\" FROM information_schema.schemata WHERE schema_name \
                 NOT IN ('information_schema', 'pg_catalog', 'pg_toast', '_timescaledb_cache') ORDER BY schema_name"},
        {"sql": format!("SELECT CASE WHEN {search_path_schemas} THEN quote_ident(table_name) \
                 ELSE quote_ident(table_schema) || '.' || quote_ident(table_name) END AS \"table\" \
                 FROM information_schema.tables WHERE quote_ident(table_schema) NOT IN \
                 ('information_schema', 'pg_catalog', '_timescaledb_cache') \
                 ORDER BY CASE WHEN {search_path_schemas} THEN 0 ELSE 1 END, 1")},
        {"sql": "SELECT quote_ident(table_name) AS \"table\" FROM information_schema.tables \
                 WHERE quote_ident(table_schema) = 'public' ORDER BY 1"},
        {"sql": format!("SELECT quote_ident(column_name) AS \"column\", data_type AS \"type\" \
                 FROM information_schema.columns WHERE CASE WHEN array_length(parse_ident('spans'),1) = 2 \
                 THEN quote_ident(table_schema) = (parse_ident('spans'))[1] \
                 AND quote_ident(table_name) = (parse_ident('spans'))[2] \
                 ELSE quote_ident(table_name) = 'spans' AND {search_path_schemas} END")},
        {"sql": "SELECT floor(extract(epoch from start_time)/300)*300 AS \"time\", service_name AS metric, \
                 count(*) AS value FROM spans \
                 WHERE start_time BETWEEN '2024-05-01T10:00:00Z' AND '2024-05-01T11:00:00Z' \
                 GROUP BY 1, 2 ORDER BY 1, 2"},
        {"sql": "SELECT start_time AS \"time\", duration_ms(start_time, end_time) AS latency FROM spans \
                 WHERE extract(epoch from start_time) >= 1714557600 AND extract(epoch from start_time) <= 1714557659 \
                 AND service_name = 'coder' ORDER BY 1"},
        {"sql": "SELECT to_timestamp(1714557600) AS \"time\", time_bucket('5m', start_time) AS bucket \
                 FROM spans WHERE service_name = 'coder' ORDER BY start_time DESC LIMIT 1"},
    ]);
    let out = psycopg(&server, &[], &steps);
    assert_eq!(out["connected"], true, "{out}");
    let r = out["results"].as_array().unwrap();
    for (i, result) in r.iter().enumerate() {
        assert!(result.get("error").is_none(), "step {i}: {result}");
    }
    assert_eq!(r[0]["rows"], json!([]));
    assert_eq!(column(&r[1], 0, 0), &json!({"int": 1500}));
    assert_eq!(r[2]["rows"], json!([]));
    assert_eq!(r[3]["rows"], json!([[{"str": "public"}]]));
    let tables: Vec<&str> = r[4]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[0]["str"].as_str().unwrap())
        .collect();
    for table in ["spans", "logs", "metrics", "histograms"] {
        assert!(tables.contains(&table), "{tables:?}");
    }
    // Tables on the search path come first and unqualified.
    assert!(!tables[0].contains('.'), "{tables:?}");
    // The six telemetry tables and the derived slo_status, alerts, anomalies,
    // predictions and root_causes.
    assert_eq!(r[5]["rows"].as_array().unwrap().len(), 11, "{}", r[5]);
    let columns: Vec<&str> = r[6]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[0]["str"].as_str().unwrap())
        .collect();
    assert!(
        columns.contains(&"start_time") && columns.contains(&"service_name"),
        "{columns:?}"
    );

    // Two five-minute buckets, five spans per service in each, ordered by time.
    let series = r[7]["rows"].as_array().unwrap();
    assert_eq!(series.len(), 6, "{series:?}");
    let expected = [
        (1_714_557_600.0, "coder"),
        (1_714_557_600.0, "planner"),
        (1_714_557_600.0, "reviewer"),
        (1_714_557_900.0, "coder"),
        (1_714_557_900.0, "planner"),
        (1_714_557_900.0, "reviewer"),
    ];
    for (row, (time, metric)) in series.iter().zip(expected) {
        assert_eq!(row[0], json!({"float": time}));
        assert_eq!(row[1], json!({"str": metric}));
        assert_eq!(row[2], json!({"int": 5}));
    }
    assert_eq!(
        r[8]["rows"],
        json!([[{"datetime": "2024-05-01T10:00:00+00:00"}, {"float": 250.0}]])
    );
    assert_eq!(
        column(&r[9], 0, 1),
        &json!({"datetime": "2024-05-01T10:05:00+00:00"})
    );
}

#[test]
fn scram_password_is_required_when_configured() {
    let server = TestServer::start_with(|c| {
        c.postgres.password = Some("s3cret".into());
    });
    let steps = json!([{"sql": "SELECT 1 AS one"}]);
    let out = psycopg(&server, &["--password", "wrong"], &steps);
    assert_eq!(out["connected"], false, "{out}");
    assert!(
        out["error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("password authentication failed"),
        "{out}"
    );
    let out = psycopg(
        &server,
        &["--user", "mallory", "--password", "s3cret"],
        &steps,
    );
    assert_eq!(out["connected"], false, "{out}");
    let out = psycopg(&server, &["--password", "s3cret"], &steps);
    assert_eq!(out["connected"], true, "{out}");
    assert_eq!(column(&out["results"][0], 0, 0), &json!({"int": 1}));
}

#[test]
fn cleartext_passwords_travel_only_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("server.crt");
    let key = dir.path().join("server.key");
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is installed (.ci/run installs it)");
    assert!(status.success());
    let server = TestServer::start_with(|c| {
        c.postgres.password = Some("s3cret".into());
        c.postgres.auth = vigil::postgres::AuthMethod::Password;
        c.postgres.tls_cert = Some(cert.clone());
        c.postgres.tls_key = Some(key.clone());
    });
    let addr = server.pg.unwrap();
    let conninfo = |sslmode: &str| {
        format!(
            "host={} port={} user=vigil dbname=vigil password=s3cret sslmode={sslmode}",
            addr.ip(),
            addr.port()
        )
    };
    let run = |sslmode: &str| {
        let output = Command::new("psql")
            .args(["-X", "-A", "-t"])
            .arg(conninfo(sslmode))
            .args([
                "-c",
                "SELECT ssl_is_used, 42 FROM (SELECT true AS ssl_is_used)",
            ])
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run("require");
    assert!(ok, "{err}");
    assert_eq!(out, "t|42");
    let (ok, _, err) = run("disable");
    assert!(!ok);
    assert!(err.contains("only over TLS"), "{err}");
}

#[test]
fn a_query_over_the_memory_limit_fails_cleanly_while_ingest_continues() {
    let server = TestServer::start_with(|c| {
        c.query.memory_limit = vigil::config::ByteSize(4 << 20);
    });
    // 200 services × 100 spans of about 1 KiB each: 20 MiB of attributes.
    let services: Vec<String> = (0..200).map(|i| format!("svc-{i}")).collect();
    let names: Vec<&str> = services.iter().map(String::as_str).collect();
    for chunk in names.chunks(50) {
        send_spans(
            &server,
            &padded_spans_request(chunk, 1_714_557_600, 100, 1000),
        );
    }

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ingest = {
        let stop = std::sync::Arc::clone(&stop);
        let url = server.url("/v1/traces");
        let body = serde_json::to_vec(&spans_request(&["load"], 1_714_600_000, 50)).unwrap();
        std::thread::spawn(move || {
            let mut sent = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let response = common::post(&url, "application/json", &[], &body);
                assert_eq!(response.status, 200, "ingest failed: {}", response.text());
                sent += 50;
            }
            sent
        })
    };

    // A self-join builds a hash table of all 20,000 spans' attributes: far over 4 MiB.
    let join = "SELECT count(*), max(length(a.attributes) + length(b.attributes)) \
                FROM spans a JOIN spans b ON a.trace_id = b.trace_id \
                WHERE a.service_name LIKE 'svc-%' AND b.service_name LIKE 'svc-%'";
    let response = server.post_json("/api/v1/query", &json!({ "sql": join }));
    assert_eq!(response.status, 422, "{}", response.text());
    assert!(
        response.text().contains("memory_limit"),
        "{}",
        response.text()
    );
    let (ok, _, err) = psql(&server, &[], join);
    assert!(!ok);
    assert!(err.contains("53200"), "{err}");
    // Collecting a result larger than the limit over HTTP fails the same way.
    let response = server.post_json("/api/v1/query", &json!({ "sql": "SELECT * FROM spans" }));
    assert_eq!(response.status, 422, "{}", response.text());
    // The Postgres port streams rows, so the same result arrives there.
    let all = psql_ok(
        &server,
        "SELECT * FROM spans WHERE service_name LIKE 'svc-%'",
    );
    assert_eq!(all.lines().count(), 20_000);

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = ingest.join().expect("every ingest request succeeded");
    assert!(sent > 0);
    assert_eq!(
        server.scalar("SELECT count(*) FROM spans WHERE service_name = 'load'"),
        json!(sent)
    );
}

#[test]
fn a_long_query_times_out_and_queries_wait_for_a_free_slot() {
    let server = TestServer::start_with(|c| {
        c.query.timeout = vigil::config::HumanDuration(Duration::from_secs(2));
        c.query.max_concurrent = 1;
    });
    let slow = {
        let url = server.url("/api/v1/query");
        std::thread::spawn(move || {
            let body = json!({"sql": "SELECT count(*) FROM generate_series(1, 100000000000)"});
            let started = Instant::now();
            let response = common::post(&url, "application/json", &[], body.to_string().as_bytes());
            (response, started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(server.scalar("SELECT 1 + 1"), json!(2));
    let waited = started.elapsed();

    let (response, took) = slow.join().unwrap();
    assert_eq!(response.status, 503, "{}", response.text());
    assert!(response.text().contains("timeout"), "{}", response.text());
    assert!(took < Duration::from_secs(10), "{took:?}");
    // The second query could only start once the slow one gave up its slot.
    assert!(waited >= Duration::from_millis(1500), "{waited:?}");
}

#[test]
fn a_cancel_request_stops_the_running_query() {
    let server = TestServer::start();
    let started = Instant::now();
    let out = psycopg(
        &server,
        &["--cancel-after", "1"],
        &json!([
            {"sql": "SELECT count(*) FROM generate_series(1, 100000000000)"},
            {"sql": "SELECT 1 AS still_there"},
        ]),
    );
    assert_eq!(out["results"][0]["error"]["sqlstate"], "57014", "{out}");
    assert_eq!(column(&out["results"][1], 0, 0), &json!({"int": 1}));
    // The default timeout is two minutes: the query ended because it was cancelled.
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_query_computing_without_pause_still_times_out_and_others_keep_running() {
    let server = TestServer::start_with(|c| {
        c.query.timeout = vigil::config::HumanDuration(Duration::from_secs(2));
        c.query.max_concurrent = 2;
    });
    // A cross join of 10^10 rows counted inside one operator.
    let slow = {
        let url = server.url("/api/v1/query");
        std::thread::spawn(move || {
            let body = json!({"sql": "SELECT count(*) FROM generate_series(1, 100000) a, \
                                      generate_series(1, 100000) b"});
            let started = Instant::now();
            let response = common::post(&url, "application/json", &[], body.to_string().as_bytes());
            (response, started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    assert_eq!(psql_ok(&server, "SELECT 40 + 2"), "42");
    let quick = started.elapsed();
    let (response, took) = slow.join().unwrap();
    assert_eq!(response.status, 503, "{}", response.text());
    assert!(
        took < Duration::from_secs(6),
        "the 2 s timeout took {took:?}"
    );
    assert!(
        quick < Duration::from_secs(2),
        "a small query waited {quick:?}"
    );
}

#[test]
fn a_failed_transaction_ignores_statements_until_it_ends() {
    let server = TestServer::start();
    let addr = server.pg.unwrap();
    let output = Command::new("psql")
        .args([
            "-X",
            "-A",
            "-t",
            "-h",
            &addr.ip().to_string(),
            "-p",
            &addr.port().to_string(),
        ])
        .args(["-U", "vigil", "-d", "vigil", "-v", "VERBOSITY=verbose"])
        .args([
            "-c",
            "BEGIN",
            "-c",
            "SELECT * FROM no_such_table",
            "-c",
            "SELECT 1",
        ])
        .args(["-c", "COMMIT", "-c", "SELECT 2"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("42P01"), "{err}");
    assert!(err.contains("25P02"), "{err}");
    // COMMIT of the failed transaction rolls back; afterwards statements run again.
    assert_eq!(out.trim(), "BEGIN\nROLLBACK\n2", "{err}");
}

#[test]
fn scram_with_tls_configured_still_accepts_plain_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("c.crt"), dir.path().join("c.key"));
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let server = TestServer::start_with(|c| {
        c.postgres.password = Some("s3cret".into());
        c.postgres.tls_cert = Some(cert.clone());
        c.postgres.tls_key = Some(key.clone());
    });
    let addr = server.pg.unwrap();
    for sslmode in ["disable", "require"] {
        let output = Command::new("psql")
            .args(["-X", "-A", "-t"])
            .arg(format!(
                "host={} port={} user=vigil dbname=vigil password=s3cret sslmode={sslmode}",
                addr.ip(),
                addr.port()
            ))
            .args(["-c", "SELECT 7"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{sslmode}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "7");
    }
}
