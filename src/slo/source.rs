//! Vigil's own OpenSLO `metricSource` (`type: Vigil`) and the SQL it turns into.
//!
//! Owns the two source forms, their static checks and the per-minute rollup query the engine
//! runs in DataFusion:
//!
//! ```yaml
//! metricSource:
//!   type: Vigil
//!   spec:                       # table form
//!     table: spans              # spans | logs | metrics | histograms | exp_histograms | summaries
//!     filter: "status_code = 'ERROR'"   # SQL predicate over that table's columns (required;
//!                                       # write `true` to count every row)
//!     time_column: start_time   # optional; default start_time for spans, time otherwise
//!     value: "count"            # optional SQL expression summed instead of counting rows
//! ```
//!
//! ```yaml
//! metricSource:
//!   type: Vigil
//!   spec:                       # query form
//!     query: |
//!       SELECT date_trunc('minute', time) AS time, count(*) AS count
//!       FROM logs WHERE time >= $__start AND time < $__end AND ...
//!       GROUP BY 1
//! ```
//!
//! A full query must be one `SELECT` (or `WITH … SELECT`) returning a column `time`
//! (timestamp, UTC; any precision, the engine truncates it to the minute) and a column `count`
//! (a non-negative number; several rows for one minute are added up, NULL counts are ignored).
//! `$__start` and `$__end` are replaced by timestamp literals of the evaluated range
//! `[start, end)` so the query can prune files; the engine also filters `time` to that range
//! itself, so using them is an optimisation, not a requirement.
//!
//! Guarantees of the static checks: every SQL fragment is non-empty, has no `;` outside
//! string literals and comments, closes every quote, quoted identifier and block comment, and
//! balances its parentheses, so wrapping it in the rollup query cannot end or escape the
//! statement. A filter is also refused when it carries clause keywords (`GROUP BY`,
//! `ORDER BY`, `LIMIT`, `UNION`…) at the top level, since it must be a predicate. Checks are
//! lexical: whether columns and functions exist is only known when DataFusion plans the query.

use chrono::DateTime;

pub use crate::store::Table;

/// Where one side of a ratio (good, bad or total) comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricSource {
    /// Rows of a table matching a predicate, counted or summed per minute.
    Table {
        table: Table,
        filter: String,
        time_column: String,
        value: Option<String>,
    },
    /// A full query returning `time` and `count` columns.
    Query { query: String },
}

/// Why a SQL fragment was refused by the static checks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlProblem {
    #[error("must not be empty")]
    Empty,
    #[error("must be a single statement: ';' at byte {0}")]
    Semicolon(usize),
    #[error("unterminated {0}")]
    Unterminated(&'static str),
    #[error("unbalanced parentheses: ')' at byte {0} has no matching '('")]
    UnmatchedClose(usize),
    #[error("unbalanced parentheses: {0} '(' never closed")]
    UnclosedOpen(usize),
    #[error("must be a predicate, not contain the clause keyword {0}")]
    ClauseKeyword(String),
    #[error("must start with SELECT or WITH")]
    NotSelect,
    #[error("'{0}' is not a plain column name (letters, digits and '_')")]
    BadIdentifier(String),
}

/// The replaceable range markers of the query form.
pub const START_MARKER: &str = "$__start";
pub const END_MARKER: &str = "$__end";

/// A lexical token of interest: a bare word at parenthesis depth `depth`.
struct Word<'a> {
    text: &'a str,
    depth: usize,
}

/// Scans SQL text, skipping string literals, quoted identifiers and comments; returns the bare
/// words it saw, or the first problem.
fn scan(sql: &str) -> Result<Vec<Word<'_>>, SqlProblem> {
    if sql.trim().is_empty() {
        return Err(SqlProblem::Empty);
    }
    let bytes = sql.as_bytes();
    let mut words = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => {
                let quote = bytes[i];
                let what = if quote == b'\'' {
                    "string literal"
                } else {
                    "quoted identifier"
                };
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err(SqlProblem::Unterminated(what)),
                        Some(&b) if b == quote => {
                            // A doubled quote is an escaped quote inside the literal.
                            if bytes.get(i + 1) == Some(&quote) {
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let close = sql[i + 2..]
                    .find("*/")
                    .ok_or(SqlProblem::Unterminated("block comment"))?;
                i += 2 + close + 2;
            }
            b';' => return Err(SqlProblem::Semicolon(i)),
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' => {
                depth = depth.checked_sub(1).ok_or(SqlProblem::UnmatchedClose(i))?;
                i += 1;
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                words.push(Word {
                    text: &sql[start..i],
                    depth,
                });
            }
            _ => i += 1,
        }
    }
    if depth > 0 {
        return Err(SqlProblem::UnclosedOpen(depth));
    }
    Ok(words)
}

/// Checks a SQL predicate (the `filter` of the table form).
pub fn check_predicate(sql: &str) -> Result<(), SqlProblem> {
    let words = scan(sql)?;
    // `FROM` is not here: `a IS DISTINCT FROM b` is a predicate.
    const CLAUSES: [&str; 8] = [
        "select",
        "group",
        "order",
        "limit",
        "union",
        "intersect",
        "except",
        "having",
    ];
    for word in words.iter().filter(|w| w.depth == 0) {
        let lower = word.text.to_ascii_lowercase();
        if CLAUSES.contains(&lower.as_str()) {
            return Err(SqlProblem::ClauseKeyword(word.text.to_ascii_uppercase()));
        }
    }
    Ok(())
}

/// Checks a SQL scalar expression (the `value` of the table form).
pub fn check_expression(sql: &str) -> Result<(), SqlProblem> {
    check_predicate(sql)
}

/// Checks a full query (the query form). Returns the names of required output columns that
/// do not appear anywhere in the text: not an error (a view may supply them), but worth a
/// warning.
pub fn check_query(sql: &str) -> Result<Vec<&'static str>, SqlProblem> {
    let words = scan(sql)?;
    let first = words.first().map(|w| w.text.to_ascii_lowercase());
    if !matches!(first.as_deref(), Some("select" | "with")) {
        return Err(SqlProblem::NotSelect);
    }
    let mentions = |name: &str| words.iter().any(|w| w.text.eq_ignore_ascii_case(name));
    Ok(["time", "count"]
        .into_iter()
        .filter(|name| !mentions(name))
        .collect())
}

/// Checks a column name used as `time_column`.
pub fn check_identifier(name: &str) -> Result<(), SqlProblem> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(SqlProblem::BadIdentifier(name.to_owned()))
    }
}

/// A timestamp literal for unix seconds, in UTC.
pub fn timestamp_literal(secs: i64) -> String {
    match DateTime::from_timestamp(secs, 0) {
        Some(t) => format!("TIMESTAMP '{}'", t.format("%Y-%m-%dT%H:%M:%SZ")),
        // Out of chrono's range: compare against the epoch offset instead of failing.
        None => format!("to_timestamp_seconds({secs})"),
    }
}

impl MetricSource {
    /// The query returning one row per minute that has events in `[start, end)` (unix
    /// seconds): `minute` (timestamp, the minute's start, UTC) and `n` (BIGINT, the number of
    /// matching rows, or the rounded sum of `value`). Minutes without events have no row.
    pub fn rollup_sql(&self, start: i64, end: i64) -> String {
        let (from, to) = (timestamp_literal(start), timestamp_literal(end));
        match self {
            MetricSource::Table {
                table,
                filter,
                time_column,
                value,
            } => {
                let n = match value {
                    None => "count(*)".to_owned(),
                    Some(expr) => {
                        format!(
                            "CAST(round(coalesce(sum(CAST((\n{expr}\n) AS DOUBLE)), 0)) AS BIGINT)"
                        )
                    }
                };
                format!(
                    "SELECT date_trunc('minute', {time_column}) AS minute, {n} AS n\n\
                     FROM {table}\n\
                     WHERE {time_column} >= {from} AND {time_column} < {to}\n\
                     AND (\n{filter}\n)\n\
                     GROUP BY 1"
                )
            }
            MetricSource::Query { query } => {
                let query = query.replace(START_MARKER, &from).replace(END_MARKER, &to);
                format!(
                    "SELECT date_trunc('minute', q.\"time\") AS minute, \
                     CAST(round(coalesce(sum(CAST(q.\"count\" AS DOUBLE)), 0)) AS BIGINT) AS n\n\
                     FROM (\n{query}\n) AS q\n\
                     WHERE q.\"time\" >= {from} AND q.\"time\" < {to}\n\
                     GROUP BY 1"
                )
            }
        }
    }
}

/// One query rolling up several `Table` sources over the same table and time column:
/// `minute` then one BIGINT column `n0`, `n1`, … per source, in the order given, each what
/// that source's [`MetricSource::rollup_sql`] would count (0 where it has no events).
/// Scanning once for many SLOs is what keeps the per-minute step cheap.
pub fn batched_rollup_sql(
    table: Table,
    time_column: &str,
    sources: &[(&str, Option<&str>)],
    start: i64,
    end: i64,
) -> String {
    let (from, to) = (timestamp_literal(start), timestamp_literal(end));
    let columns: Vec<String> = sources
        .iter()
        .enumerate()
        .map(|(i, (filter, value))| match value {
            None => format!("count(*) FILTER (WHERE (\n{filter}\n)) AS n{i}"),
            Some(expr) => format!(
                "CAST(round(coalesce(sum(CAST((\n{expr}\n) AS DOUBLE)) FILTER (WHERE (\n{filter}\n)), 0)) AS BIGINT) AS n{i}"
            ),
        })
        .collect();
    format!(
        "SELECT date_trunc('minute', {time_column}) AS minute, {}\n\
         FROM {table}\n\
         WHERE {time_column} >= {from} AND {time_column} < {to}\n\
         GROUP BY 1",
        columns.join(",\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_with_quotes_comments_and_nesting_pass() {
        assert_eq!(check_predicate("name = 'a;b' AND (x > 1 OR y)"), Ok(()));
        assert_eq!(
            check_predicate("attr(attributes, 'it''s') = \"weird col\""),
            Ok(())
        );
        assert_eq!(
            check_predicate("x = 1 -- a comment; with a semicolon\n AND y"),
            Ok(())
        );
        assert_eq!(check_predicate("x /* ; ) */ = 1"), Ok(()));
        assert_eq!(check_predicate("x IN (SELECT 1)"), Ok(()));
    }

    #[test]
    fn predicates_that_could_escape_the_wrapping_are_refused() {
        assert_eq!(check_predicate("  "), Err(SqlProblem::Empty));
        assert_eq!(
            check_predicate("x = 1; DROP TABLE spans"),
            Err(SqlProblem::Semicolon(5))
        );
        assert_eq!(
            check_predicate("x = 1) OR (1 = 1"),
            Err(SqlProblem::UnmatchedClose(5))
        );
        assert_eq!(check_predicate("(x = 1"), Err(SqlProblem::UnclosedOpen(1)));
        assert_eq!(
            check_predicate("x = 'open"),
            Err(SqlProblem::Unterminated("string literal"))
        );
        assert_eq!(
            check_predicate("x /* open"),
            Err(SqlProblem::Unterminated("block comment"))
        );
        assert_eq!(
            check_predicate("true GROUP BY name"),
            Err(SqlProblem::ClauseKeyword("GROUP".into()))
        );
        assert_eq!(
            check_predicate("true UNION SELECT 1"),
            Err(SqlProblem::ClauseKeyword("UNION".into()))
        );
    }

    #[test]
    fn queries_must_be_selects_and_missing_columns_are_reported() {
        assert_eq!(check_query("SELECT time, count FROM t"), Ok(vec![]));
        assert_eq!(
            check_query("WITH a AS (SELECT 1) SELECT * FROM a"),
            Ok(vec!["time", "count"])
        );
        assert_eq!(check_query("DELETE FROM spans"), Err(SqlProblem::NotSelect));
        assert_eq!(
            check_query("SELECT 1; SELECT 2"),
            Err(SqlProblem::Semicolon(8))
        );
    }

    #[test]
    fn time_columns_must_be_plain_identifiers() {
        assert_eq!(check_identifier("start_time"), Ok(()));
        assert!(check_identifier("time; drop").is_err());
        assert!(check_identifier("1time").is_err());
        assert!(check_identifier("").is_err());
    }

    #[test]
    fn table_form_rollup_counts_rows_per_minute_in_range() {
        let source = MetricSource::Table {
            table: Table::Spans,
            filter: "status_code = 'ERROR'".into(),
            time_column: "start_time".into(),
            value: None,
        };
        let sql = source.rollup_sql(1_704_067_200, 1_704_070_800);
        assert_eq!(
            sql,
            "SELECT date_trunc('minute', start_time) AS minute, count(*) AS n\n\
             FROM spans\n\
             WHERE start_time >= TIMESTAMP '2024-01-01T00:00:00Z' \
             AND start_time < TIMESTAMP '2024-01-01T01:00:00Z'\n\
             AND (\nstatus_code = 'ERROR'\n)\n\
             GROUP BY 1"
        );
    }

    #[test]
    fn query_form_substitutes_range_markers() {
        let source = MetricSource::Query {
            query: "SELECT time, 1 AS count FROM logs WHERE time >= $__start AND time < $__end"
                .into(),
        };
        let sql = source.rollup_sql(0, 60);
        assert!(sql.contains(
            "time >= TIMESTAMP '1970-01-01T00:00:00Z' AND time < TIMESTAMP '1970-01-01T00:01:00Z'"
        ));
        assert!(!sql.contains("$__"));
    }
}
