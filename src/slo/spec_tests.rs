//! Tests of OpenSLO loading and validation.

use super::*;
use crate::slo::budget::{BudgetTracker, Counts, Severity};
use crate::slo::window::{DAY, HOUR, MINUTE};

const FILE: &str = "pipelines/slo/claude-code.yaml";

/// A valid SLO document; tests replace parts of it.
const BASE: &str = r#"
apiVersion: openslo/v1
kind: SLO
metadata:
  name: api-availability
  displayName: API availability
  annotations:
    vigil.dev/runbook: https://runbooks.example/api
spec:
  description: Requests answered.
  service: api
  indicator:
    metadata:
      name: api-answered
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: Vigil
            spec:
              table: spans
              filter: status_code <> 'ERROR'
        total:
          metricSource:
            type: Vigil
            spec:
              table: spans
              filter: "true"
  timeWindow:
    - duration: 30d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - displayName: Answered
      target: 0.999
"#;

fn load(text: &str) -> Result<Catalog, SpecErrors> {
    load_str(text, Path::new(FILE))
}

fn errors(text: &str) -> Vec<String> {
    match load(text) {
        Ok(_) => Vec::new(),
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

fn warnings(text: &str) -> Vec<String> {
    match load(text) {
        Ok(catalog) => catalog.warnings.iter().map(ToString::to_string).collect(),
        Err(e) => e.warnings.iter().map(ToString::to_string).collect(),
    }
}

fn docs(parts: &[&str]) -> String {
    parts.join("\n---\n")
}

#[test]
fn a_valid_slo_loads_with_its_metadata_window_and_objective() {
    let catalog = load(BASE).expect("valid");
    assert!(catalog.warnings.is_empty(), "{:?}", catalog.warnings);
    let slo = catalog.slo("api-availability").expect("loaded");
    assert_eq!(slo.display_name.as_deref(), Some("API availability"));
    assert_eq!(slo.service.as_deref(), Some("api"));
    assert_eq!(
        slo.runbook_url.as_deref(),
        Some("https://runbooks.example/api")
    );
    assert_eq!(slo.indicator.name, "api-answered");
    assert_eq!(slo.budgeting, BudgetingMethod::Occurrences);
    assert_eq!(slo.window.max_period_secs(), 30 * DAY);
    assert_eq!(slo.objectives.len(), 1);
    assert_eq!(slo.objectives[0].target, 0.999);
    assert_eq!(slo.objectives[0].conditions, BurnCondition::defaults());
    assert_eq!(slo.min_events, DEFAULT_MIN_EVENTS);
    assert_eq!(slo.origin.document, 1);
    match &slo.indicator.ratio {
        RatioMetric::GoodTotal { good, total } => {
            let MetricSource::Table {
                table,
                time_column,
                value,
                ..
            } = good
            else {
                panic!("expected the table form, got {good:?}");
            };
            assert_eq!(
                (*table, time_column.as_str(), value),
                (Table::Spans, "start_time", &None)
            );
            assert!(matches!(total, MetricSource::Table { filter, .. } if filter == "true"));
        }
        other => panic!("unexpected ratio {other:?}"),
    }
}

#[test]
fn an_out_of_range_target_names_file_document_and_field() {
    let bad = BASE.replace("target: 0.999", "target: 99");
    let text = docs(&[
        BASE,
        &BASE.replace("api-availability", "second"),
        &bad.replace("api-availability", "third"),
    ]);
    let found = errors(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(
            "pipelines/slo/claude-code.yaml, document 3: spec.objectives[0].target: \
             must be between 0 and 1 (got 99)"
        ),
        "{}",
        found[0]
    );
    assert!(found[0].ends_with("(did you mean targetPercent: 99?)"));
}

#[test]
fn every_error_is_collected_not_just_the_first() {
    let first = BASE
        .replace("target: 0.999", "target: 1.5")
        .replace("duration: 30d", "duration: 30 days")
        .replace(
            "table: spans\n              filter: status_code",
            "table: traces\n              filter: status_code",
        );
    let second = BASE
        .replace("api-availability", "Second_SLO")
        .replace("budgetingMethod: Occurrences", "budgetingMethod: Sometimes");
    let found = errors(&docs(&[&first, &second]));
    let expect = [
        "document 1: spec.indicator.spec.ratioMetric.good.metricSource.spec.table: \
         unknown table 'traces'",
        "document 1: spec.timeWindow[0].duration: '30 days' is not a duration",
        "document 1: spec.objectives[0].target: must be between 0 and 1 (got 1.5)",
        "document 2: metadata.name: 'Second_SLO' is not a valid name",
        "document 2: spec.budgetingMethod: must be Occurrences or Timeslices (got Sometimes)",
    ];
    for needle in expect {
        assert!(
            found.iter().any(|e| e.contains(needle)),
            "missing {needle:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");
}

#[test]
fn target_percent_is_divided_by_100_and_conflicts_with_target() {
    let percent = BASE.replace("target: 0.999", "targetPercent: 99.5");
    let catalog = load(&percent).expect("valid");
    assert!((catalog.slos[0].objectives[0].target - 0.995).abs() < 1e-12);
    let both = BASE.replace("target: 0.999", "target: 0.99\n      targetPercent: 99");
    assert_eq!(
        errors(&both),
        vec![format!(
            "{FILE}, document 1: spec.objectives[0]: give either target or targetPercent, not both"
        )]
    );
    let hundred = BASE.replace("target: 0.999", "targetPercent: 100");
    assert!(
        errors(&hundred)[0].contains("must be below 100: a 100% objective leaves no error budget")
    );
    let neither = BASE.replace("target: 0.999", "timeSliceTarget: 0.9");
    assert!(errors(&neither)[0].contains("spec.objectives[0].target: required field is missing"));
}

#[test]
fn unknown_fields_pass_through_and_are_kept() {
    let text = BASE
        .replace(
            "  service: api\n",
            "  service: api\n  futureField:\n    nested: [1, 2]\n",
        )
        .replace(
            "  budgetingMethod",
            "  x-team-notes: hello\n  budgetingMethod",
        )
        .replace("kind: SLO\n", "kind: SLO\nextraTopLevel: 1\n");
    let catalog = load(&text).expect("unknown fields are not errors");
    let unknown = &catalog.slos[0].unknown;
    assert_eq!(
        unknown.get("spec.futureField"),
        Some(&serde_json::json!({"nested": [1, 2]}))
    );
    assert_eq!(
        unknown.get("spec.x-team-notes"),
        Some(&serde_json::json!("hello"))
    );
    assert_eq!(unknown.get("extraTopLevel"), Some(&serde_json::json!(1)));
    assert!(catalog.warnings.is_empty());
}

#[test]
fn unknown_keys_in_the_vigil_source_spec_are_warned_about() {
    let text = BASE.replace(
        "filter: \"true\"",
        "filter: \"true\"\n              filtr: oops",
    );
    let found = warnings(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("ratioMetric.total.metricSource.spec.filtr: unknown field"));
}

#[test]
fn other_kinds_are_ignored_with_a_warning() {
    let policy = "apiVersion: openslo/v1\nkind: AlertPolicy\nmetadata:\n  name: p\nspec: {}\n";
    let service = "apiVersion: openslo/v1\nkind: Service\nmetadata:\n  name: s\nspec: {}\n";
    let typo = "apiVersion: openslo/v1\nkind: SLo\nmetadata:\n  name: t\nspec: {}\n";
    let catalog = load(&docs(&[policy, BASE, service, typo])).expect("valid");
    assert_eq!(catalog.slos.len(), 1);
    let found: Vec<String> = catalog.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[0].contains("document 1: kind: kind AlertPolicy is not evaluated by Vigil"));
    assert!(found[1].contains("document 3: kind: kind Service is not evaluated"));
    assert!(found[2].contains("document 4: kind: unknown kind 'SLo'"));
}

#[test]
fn an_unreachable_default_page_is_dropped_with_a_warning() {
    // A 90% objective burns at most 10×; the default 2%/1h page needs 14.4× on 30 days.
    let text = BASE.replace("target: 0.999", "target: 0.9");
    let catalog = load(&text).expect("defaults never make a spec invalid");
    let conditions = &catalog.slos[0].objectives[0].conditions;
    assert_eq!(conditions.len(), 2);
    assert!(conditions.iter().all(|c| c.long_secs != HOUR));
    let found: Vec<String> = catalog.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        found,
        vec![format!(
            "{FILE}, document 1: spec.objectives[0]: default alert page 2% 1h/5m needs a burn \
             rate above 14.4 but a 90% objective burns at most 10: it can never fire; dropped \
             (set vigil.dev/alert-windows to choose conditions that can fire)"
        )]
    );
}

#[test]
fn an_unreachable_explicit_threshold_is_an_error() {
    let text = BASE.replace("target: 0.999", "target: 0.9").replace(
        "    vigil.dev/runbook",
        "    vigil.dev/alert-windows: \"page 2% 1h 5m; ticket 10% 3d 6h\"\n    vigil.dev/runbook",
    );
    let found = errors(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains(
        "spec.objectives[0]: page 2% 1h/5m needs a burn rate above 14.4 but a 90% objective \
         burns at most 10: it can never fire"
    ));
}

#[test]
fn explicit_alert_windows_replace_the_defaults() {
    let text = BASE.replace(
        "    vigil.dev/runbook",
        concat!(
            "    vigil.dev/alert-windows: |\n      page 5% 6h 30m\n      ticket 10% 3d 6h\n",
            "    vigil.dev/min-events: \"25\"\n    vigil.dev/runbook"
        ),
    );
    let catalog = load(&text).expect("valid");
    let slo = &catalog.slos[0];
    assert_eq!(slo.min_events, 25);
    let described: Vec<String> = slo.objectives[0]
        .conditions
        .iter()
        .map(BurnCondition::describe)
        .collect();
    assert_eq!(described, vec!["page 5% 6h/30m", "ticket 10% 3d/6h"]);
    let broken = BASE.replace(
        "    vigil.dev/runbook",
        concat!(
            "    vigil.dev/alert-windows: page 2% 5m 1h, urgent 2% 1h 5m\n",
            "    vigil.dev/min-events: lots\n    vigil.dev/runbook"
        ),
    );
    let found = errors(&broken);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        found[0].contains(
            "'page 2% 5m 1h': the short window (1h) must be shorter than the long one (5m)"
        )
    );
    assert!(found[1].contains("severity must be page or ticket (got urgent)"));
    assert!(
        found[2].contains("metadata.annotations[vigil.dev/min-events]: must be a whole number")
    );
}

#[test]
fn a_long_window_beyond_the_slo_window_is_reported() {
    // 1-day rolling window: the default 3-day ticket cannot apply.
    let text = BASE.replace("duration: 30d", "duration: 1d");
    let catalog = load(&text).expect("valid");
    assert_eq!(catalog.slos[0].objectives[0].conditions.len(), 2);
    assert!(
        catalog.warnings[0]
            .to_string()
            .contains("ticket 10% 3d/6h: the long window is longer than the 1d SLO window")
    );
}

#[test]
fn calendar_windows_read_start_time_and_time_zone() {
    let text = BASE.replace(
        "    - duration: 30d\n      isRolling: true",
        concat!(
            "    - duration: 1M\n      isRolling: false\n      calendar:\n",
            "        startTime: 2024-01-01 00:00:00\n        timeZone: Europe/Berlin"
        ),
    );
    let catalog = load(&text).expect("valid");
    match &catalog.slos[0].window {
        TimeWindow::Calendar(calendar) => {
            assert_eq!(calendar.tz, chrono_tz::Europe::Berlin);
            assert_eq!(calendar.start.to_string(), "2024-01-01 00:00:00");
            assert_eq!(calendar.duration.unit, DurationUnit::Month);
        }
        other => panic!("expected a calendar window, got {other:?}"),
    }
    let bad_zone = text.replace("Europe/Berlin", "Mars/Olympus");
    assert!(errors(&bad_zone)[0].contains("calendar.timeZone: unknown time zone 'Mars/Olympus'"));
    let rolling_month = BASE.replace("duration: 30d", "duration: 1M");
    assert!(
        errors(&rolling_month)[0]
            .contains("a rolling window needs a fixed unit (m, h, d, w), got 1M")
    );
    let hourly_calendar = text.replace("duration: 1M", "duration: 1h");
    assert!(errors(&hourly_calendar)[0].contains("a calendar window needs a calendar unit"));
    let no_calendar = BASE.replace("isRolling: true", "isRolling: false");
    assert!(
        errors(&no_calendar)[0].contains("spec.timeWindow[0].calendar: required field is missing")
    );
}

#[test]
fn timeslices_need_a_slice_target_and_window() {
    let text = BASE.replace(
        "budgetingMethod: Occurrences",
        "budgetingMethod: Timeslices",
    );
    let found = errors(&text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].contains(
            "spec.objectives[0].timeSliceTarget: required with budgetingMethod: Timeslices"
        )
    );
    assert!(found[1].contains("spec.objectives[0].timeSliceWindow: required"));
    let complete = text.replace(
        "target: 0.999",
        "target: 0.99\n      timeSliceTarget: 0.95\n      timeSliceWindow: 5m",
    );
    let catalog = load(&complete).expect("valid");
    let config = catalog.slos[0].tracker_config(0).expect("objective 0");
    assert_eq!(
        config.budgeting,
        Budgeting::Timeslices {
            target: 0.95,
            slice_secs: 5 * MINUTE
        }
    );
    let occurrences = complete.replace(
        "budgetingMethod: Timeslices",
        "budgetingMethod: Occurrences",
    );
    assert_eq!(warnings(&occurrences).len(), 2);
}

#[test]
fn vigil_sources_are_checked_statically() {
    let semicolon = BASE.replace(
        "filter: status_code <> 'ERROR'",
        "filter: \"x = 1; DROP TABLE spans\"",
    );
    assert!(
        errors(&semicolon)[0].contains("good.metricSource.spec.filter: must be a single statement")
    );
    let prometheus = BASE.replacen("type: Vigil", "type: Prometheus", 1);
    assert!(
        errors(&prometheus)[0]
            .contains("good.metricSource.type: unsupported metricSource type 'Prometheus'")
    );
    let reference = BASE.replacen(
        "type: Vigil",
        "metricSourceRef: my-prometheus\n            type: Vigil",
        1,
    );
    assert!(
        errors(&reference)[0].contains("metricSourceRef: DataSource references are not supported")
    );
    let mixed = BASE.replace(
        "filter: \"true\"",
        "filter: \"true\"\n              query: SELECT time, count FROM x",
    );
    assert!(
        errors(&mixed)[0].contains(
            "total.metricSource.spec: query excludes table, filter, time_column and value"
        )
    );
    let bad_time = BASE.replace(
        "filter: \"true\"",
        "filter: \"true\"\n              time_column: \"time; x\"",
    );
    assert!(errors(&bad_time)[0].contains("time_column: 'time; x' is not a plain column name"));
    let no_filter = BASE.replace("              filter: \"true\"\n", "");
    assert!(
        errors(&no_filter)[0].contains("total.metricSource.spec.filter: required field is missing")
    );
}

#[test]
fn the_query_form_is_accepted_and_warned_about_missing_columns() {
    let text = BASE.replace(
        "table: spans\n              filter: \"true\"",
        concat!(
            "query: SELECT date_trunc('minute', time) AS time, count(*) AS count ",
            "FROM logs WHERE time >= $__start GROUP BY 1"
        ),
    );
    let catalog = load(&text).expect("valid");
    match &catalog.slos[0].indicator.ratio {
        RatioMetric::GoodTotal {
            total: MetricSource::Query { query },
            ..
        } => {
            assert!(query.starts_with("SELECT date_trunc"));
        }
        other => panic!("unexpected {other:?}"),
    }
    let view = BASE.replace(
        "table: spans\n              filter: \"true\"",
        "query: SELECT * FROM my_view",
    );
    let found = warnings(&view);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains("never mentions a 'time' column"));
    let delete = BASE.replace(
        "table: spans\n              filter: \"true\"",
        "query: DELETE FROM spans",
    );
    assert!(errors(&delete)[0].contains("query: must start with SELECT or WITH"));
}

#[test]
fn bad_and_total_load_and_good_with_bad_conflicts() {
    let text = BASE.replace("        good:\n", "        bad:\n");
    let catalog = load(&text).expect("valid");
    assert!(matches!(
        catalog.slos[0].indicator.ratio,
        RatioMetric::BadTotal { .. }
    ));
    let both = BASE.replace(
        "        total:\n",
        concat!(
            "        bad:\n          metricSource:\n            type: Vigil\n            spec:\n",
            "              table: spans\n              filter: \"false\"\n        total:\n"
        ),
    );
    assert!(errors(&both)[0].contains("ratioMetric: give either good or bad with total, not both"));
    let threshold = BASE.replace("ratioMetric:", "thresholdMetric:");
    assert!(errors(&threshold)[0].contains("thresholdMetric is not supported"));
}

#[test]
fn indicator_refs_resolve_across_documents_and_unresolved_ones_fail() {
    let sli = r#"
apiVersion: openslo/v1
kind: SLI
metadata:
  name: shared-answered
spec:
  ratioMetric:
    good:
      metricSource:
        type: Vigil
        spec:
          table: logs
          filter: severity_text <> 'ERROR'
    total:
      metricSource:
        type: Vigil
        spec:
          table: logs
          filter: "true"
"#;
    let start = BASE.find("  indicator:").expect("present");
    let end = BASE.find("  timeWindow:").expect("present");
    let by_ref = format!(
        "{}  indicatorRef: shared-answered\n{}",
        &BASE[..start],
        &BASE[end..]
    );
    let catalog = load(&docs(&[&by_ref, sli])).expect("the SLI may come after the SLO");
    assert_eq!(catalog.slos[0].indicator.name, "shared-answered");
    assert_eq!(catalog.slis.len(), 1);
    let missing = errors(&by_ref);
    assert_eq!(
        missing,
        vec![format!(
            "{FILE}, document 1: spec.indicatorRef: no SLI named 'shared-answered' in the \
             loaded files"
        )]
    );
    let both = BASE.replace("  indicator:\n", "  indicatorRef: x\n  indicator:\n");
    assert!(errors(&both)[0].contains("spec: give either indicator or indicatorRef, not both"));
}

#[test]
fn duplicate_names_are_reported_with_the_first_location() {
    let found = errors(&docs(&[BASE, BASE]));
    assert_eq!(
        found,
        vec![format!(
            "{FILE}, document 2: metadata.name: SLO 'api-availability' is already defined in \
             {FILE}, document 1"
        )]
    );
}

#[test]
fn yaml_syntax_errors_name_the_document() {
    let broken = format!("{BASE}\n---\nkind: SLO\nmetadata: [unclosed\n");
    let found = errors(&broken);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(&format!("{FILE}, document 2: not valid YAML")),
        "{}",
        found[0]
    );
}

#[test]
fn wrong_api_version_and_wrong_types_are_errors() {
    let text = BASE
        .replace("apiVersion: openslo/v1", "apiVersion: openslo/v1alpha")
        .replace(
            "  objectives:\n    - displayName: Answered\n      target: 0.999",
            "  objectives: 0.999",
        );
    let found = errors(&text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains("apiVersion: must be openslo/v1 (got openslo/v1alpha)"));
    assert!(found[1].contains("spec.objectives: expected a list, got a number"));
}

#[test]
fn labels_accept_strings_and_lists() {
    let text = BASE.replace(
        "  annotations:",
        "  labels:\n    team: identity\n    tags: [auth, tier-1]\n    tier: 1\n  annotations:",
    );
    let catalog = load(&text).expect("valid");
    let labels = &catalog.slos[0].labels;
    assert_eq!(labels.get("team"), Some(&vec!["identity".to_owned()]));
    assert_eq!(
        labels.get("tags"),
        Some(&vec!["auth".to_owned(), "tier-1".to_owned()])
    );
    assert_eq!(labels.get("tier"), Some(&vec!["1".to_owned()]));
}

#[test]
fn a_loaded_slo_drives_a_budget_tracker() {
    let catalog = load(BASE).expect("valid");
    let config = catalog.slos[0].tracker_config(0).expect("objective 0");
    assert!(catalog.slos[0].tracker_config(1).is_none());
    let mut tracker = BudgetTracker::new(config);
    let t0 = 1_704_067_200;
    // 99.9%: 2% errors for an hour = burn 20 > 14.4 on both 1 h and 5 m → page.
    for minute in 0..60 {
        tracker
            .record_minute(t0 + minute * MINUTE, Counts::from_bad(2, 100))
            .expect("ok");
    }
    let eval = tracker.evaluate(t0 + HOUR).expect("in range");
    assert_eq!(eval.firing(), Some(Severity::Page));
}

#[test]
fn load_paths_reports_missing_paths() {
    let missing = PathBuf::from("/definitely/not/here.yaml");
    let report = validate(std::slice::from_ref(&missing));
    assert!(!report.is_ok());
    assert!(
        report.errors[0]
            .to_string()
            .starts_with("/definitely/not/here.yaml: cannot read:")
    );
    assert!(load_paths(&[missing]).is_err());
}

#[test]
fn odd_inputs_are_reported_never_panicking() {
    let inputs = [
        "",
        "---",
        "- 1\n- 2",
        "just a string",
        "kind: SLO",
        "apiVersion: openslo/v1\nkind: SLO\nmetadata: 3\nspec: []",
        concat!(
            "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: é}\n",
            "spec: {objectives: [{target: .nan}]}"
        ),
        "{a: [1, {b: 2}], c: !!binary aGVsbG8=}",
        "apiVersion: openslo/v1\nkind: SLI\nmetadata: {name: x}\nspec: {ratioMetric: {good: 1}}",
    ];
    for input in inputs {
        let _ = load(input);
        let _ = load(&BASE.replace("filter: \"true\"", &format!("filter: {input:?}")));
    }
    // Leading and trailing separators do not shift document numbers or add documents.
    let framed = format!(
        "---\n{BASE}\n---\n{}\n---\n",
        BASE.replace("target: 0.999", "target: 2")
    );
    let found = errors(&framed);
    assert_eq!(
        found,
        vec![format!(
            "{FILE}, document 2: spec.objectives[0].target: must be between 0 and 1 (got 2)"
        )]
    );
}
