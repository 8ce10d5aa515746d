//! Tests across modules: the shipped packs, and the SQL they turn into.

use std::path::PathBuf;

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::source::MetricSource;
use super::spec::{self, RatioMetric, Slo};

fn packs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/slo")
}

fn sources(slo: &Slo) -> [&MetricSource; 2] {
    match &slo.indicator.ratio {
        RatioMetric::GoodTotal { good, total } => [good, total],
        RatioMetric::BadTotal { bad, total } => [bad, total],
    }
}

#[test]
fn shipped_packs_load_without_errors_or_warnings() {
    let catalog = match spec::load_paths(&[packs_dir()]) {
        Ok(catalog) => catalog,
        Err(e) => panic!("{e}"),
    };
    assert!(catalog.warnings.is_empty(), "{:#?}", catalog.warnings);
    let names: Vec<&str> = catalog.slos.iter().map(|s| s.name.as_str()).collect();
    // Files in name order: claude-code, codex, default, gemini-cli.
    assert_eq!(
        names,
        [
            "claude-code-availability",
            "claude-code-tool-success",
            "claude-code-api-latency",
            "claude-code-git-operations",
            "codex-availability",
            "codex-tool-success",
            "codex-api-latency",
            "codex-git-operations",
            "genai-availability",
            "tool-call-success",
            "genai-latency",
            "ci-pass-rate",
            "git-operations",
            "gemini-cli-availability",
            "gemini-cli-tool-success",
            "gemini-cli-api-latency",
            "gemini-cli-git-operations",
        ]
    );
    let targets: Vec<(&str, f64)> = catalog
        .slos
        .iter()
        .filter(|s| s.labels.get("pack").is_some_and(|p| p == &["default"]))
        .map(|s| (s.name.as_str(), s.objectives[0].target))
        .collect();
    assert_eq!(
        targets,
        [
            ("genai-availability", 0.99),
            ("tool-call-success", 0.95),
            ("genai-latency", 0.95),
            ("ci-pass-rate", 0.90),
            ("git-operations", 0.98),
        ]
    );
    // Every SLO has at least one alert condition that can fire, and a tracker config.
    for slo in &catalog.slos {
        assert!(!slo.objectives[0].conditions.is_empty(), "{}", slo.name);
        assert!(slo.tracker_config(0).is_some(), "{}", slo.name);
    }
}

#[test]
fn every_pack_rollup_query_parses_as_postgresql() {
    let catalog = spec::load_paths(&[packs_dir()]).unwrap_or_default();
    assert!(!catalog.slos.is_empty());
    for slo in &catalog.slos {
        for source in sources(slo) {
            let sql = source.rollup_sql(1_704_067_200, 1_704_070_800);
            if let Err(e) = Parser::parse_sql(&PostgreSqlDialect {}, &sql) {
                panic!("{}: {e}\n{sql}", slo.name);
            }
        }
    }
}

#[test]
fn validate_counts_files_and_slos() {
    let report = spec::validate(&[packs_dir()]);
    assert!(report.is_ok(), "{report}");
    assert_eq!((report.files, report.slos), (4, 17));
    assert_eq!(
        report.to_string(),
        "4 file(s), 17 SLO(s): 0 error(s), 0 warning(s)"
    );
}
