//! Hand-built incidents and a PetShop subset that pin the combined ranking.

use std::path::PathBuf;

use super::*;

const BASE: Window = Window { start: 0, end: 600 };
const INCIDENT: Window = Window {
    start: 600,
    end: 1200,
};

/// Builds a span with the fields the tests vary.
fn span(
    trace: usize,
    id: &str,
    parent: Option<&str>,
    service: &str,
    error: bool,
    start: i64,
) -> Span {
    Span {
        trace_id: format!("t{trace}"),
        span_id: id.to_string(),
        parent_span_id: parent.map(str::to_string),
        service: service.to_string(),
        operation: "handle".to_string(),
        error,
        duration_ms: if error { 250.0 } else { 40.0 },
        start,
    }
}

fn event(pairs: &[(&str, &str)], bad: bool, in_incident: bool) -> Event {
    Event {
        attributes: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        bad,
        in_incident,
    }
}

/// frontend → checkout → payments, frontend → catalog. During the incident payments fails
/// on half of its calls and the failure travels up through checkout to frontend; catalog
/// stays healthy. The callers' errors are explained by the callee.
#[test]
fn failing_downstream_service_outranks_the_callers_it_breaks() {
    let mut spans = Vec::new();
    for trace in 0..200 {
        let start = (trace as i64) * 6; // 0..1200: first half baseline, second incident
        let broken = start >= INCIDENT.start && trace % 2 == 0;
        spans.push(span(trace, "a", None, "frontend", broken, start));
        spans.push(span(trace, "b", Some("a"), "checkout", broken, start));
        spans.push(span(trace, "c", Some("b"), "payments", broken, start));
        spans.push(span(trace, "d", Some("a"), "catalog", false, start));
    }
    let data = IncidentData {
        target: Some("frontend"),
        baseline: BASE,
        incident: INCIDENT,
        events: &[],
        spans: &spans,
        edges: &[],
        series: &[],
    };
    let ranking = analyze(&data, &RcaConfig::default());
    assert_eq!(ranking.position("payments"), Some(1), "{ranking}");
    let top = &ranking.candidates[0];
    assert!(top.evidence.iter().any(|e| e.kind == EvidenceKind::Graph));
    let checkout = ranking.position("checkout").unwrap_or(usize::MAX);
    assert!(checkout > 1, "{ranking}");
}

/// Version 2.1 of the agent runtime fails on most of its calls; the same service serves
/// every event, so `service.name` must not be the answer.
#[test]
fn bad_model_version_is_ranked_first_by_attribute_evidence() {
    let mut events = Vec::new();
    for i in 0..400 {
        let in_incident = i >= 200;
        let version = if in_incident && i % 2 == 0 {
            "2.1"
        } else {
            "2.0"
        };
        let model = if i % 3 == 0 { "gpt-small" } else { "gpt-large" };
        let bad = if version == "2.1" {
            i % 10 != 0
        } else {
            i % 25 == 0
        };
        events.push(event(
            &[
                ("service.name", "agent-runtime"),
                ("service.version", version),
                ("model", model),
                ("region", "eu-west-1"),
            ],
            bad,
            in_incident,
        ));
    }
    let data = IncidentData {
        target: None,
        baseline: BASE,
        incident: INCIDENT,
        events: &events,
        spans: &[],
        edges: &[],
        series: &[],
    };
    let ranking = analyze(&data, &RcaConfig::default());
    assert_eq!(
        ranking.position("service.version=2.1"),
        Some(1),
        "{ranking}"
    );
    assert_eq!(ranking.position("agent-runtime"), None, "{ranking}");
}

/// Five bots share the traffic; bot-3 starts failing in the incident window.
#[test]
fn single_misbehaving_bot_is_ranked_first() {
    let mut events = Vec::new();
    for i in 0..1000 {
        let in_incident = i >= 500;
        let bot = format!("bot-{}", i % 5);
        let bad = (in_incident && bot == "bot-3" && i % 7 != 0) || i % 50 == 0;
        let tool = if i % 2 == 0 { "search" } else { "calendar" };
        events.push(event(
            &[
                ("bot.id", &bot),
                ("tool_name", tool),
                ("service.name", "agents"),
            ],
            bad,
            in_incident,
        ));
    }
    let data = IncidentData {
        target: None,
        baseline: BASE,
        incident: INCIDENT,
        events: &events,
        spans: &[],
        edges: &[],
        series: &[],
    };
    let ranking = analyze(&data, &RcaConfig::default());
    assert_eq!(ranking.position("bot.id=bot-3"), Some(1), "{ranking}");
}

/// Metric series alone, with an explicit edge list: api → db, api → cache; the db's latency
/// rises by more than the api's, so the db explains the api.
#[test]
fn slow_database_explains_its_callers_latency_from_series_and_edges() {
    let series_of = |component: &str, base: f64, bump: f64| MetricSeries {
        component: component.to_string(),
        metric: "latency_ms".to_string(),
        direction: Direction::HigherIsWorse,
        min_scale: 1.0,
        points: (0..20)
            .map(|m| {
                let jitter = [0.0, 1.0, -1.0, 2.0, -2.0][m % 5];
                let value = base + jitter + if m >= 10 { bump } else { 0.0 };
                ((m as i64) * 60, Some(value))
            })
            .collect(),
    };
    let series = vec![
        series_of("api", 100.0, 80.0),
        series_of("db", 20.0, 95.0),
        series_of("cache", 5.0, 0.0),
    ];
    let edges = vec![
        ("api".to_string(), "db".to_string()),
        ("api".to_string(), "cache".to_string()),
    ];
    let data = IncidentData {
        target: Some("api"),
        baseline: BASE,
        incident: INCIDENT,
        events: &[],
        spans: &[],
        edges: &edges,
        series: &series,
    };
    let ranking = analyze(&data, &RcaConfig::default());
    assert_eq!(ranking.position("db"), Some(1), "{ranking}");
}

/// The PetShop dataset as shipped in the repository's `data/petshop`; `PETSHOP_DIR`
/// overrides the location.
fn petshop_root() -> PathBuf {
    std::env::var_os("PETSHOP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/petshop"))
}

/// The first three train and three test issues of low_traffic (train: PetSearch latency ×
/// 3; test: petInfo latency, lambdastatusupdater latency, payforadoption latency).
/// In train issue_0 the load balancer in front of PetSearch (an inferred `_remote` node)
/// edges PetSearch out of first place (0.64 against 0.63), the other five are first:
/// top-1 5/6, top-3 6/6. Random's expected top-1 is 1/41 per case.
#[test]
fn petshop_low_traffic_subset_has_five_of_six_first_and_all_in_top_three() {
    let root = petshop_root();
    let options = EvalOptions {
        scenarios: vec!["low_traffic".to_string()],
        max_cases_per_split: Some(3),
        ..EvalOptions::default()
    };
    let report = match evaluate(&root, &options) {
        Ok(report) => report,
        Err(error) => panic!("evaluation failed: {error}"),
    };
    println!("{report}");
    let overall = report.row("overall").map(|r| r.cases);
    assert_eq!(overall, Some(6));
    let accuracy = report
        .row("overall")
        .and_then(|r| r.accuracy.get(&Method::Vigil).copied());
    let (top1, top3) = accuracy.unwrap_or_default();
    assert!((top1 - 5.0 / 6.0).abs() < 1e-9, "{report}");
    assert_eq!(top3, 1.0, "{report}");
    let random = report
        .row("overall")
        .and_then(|r| r.accuracy.get(&Method::Random).copied())
        .unwrap_or_default();
    assert!((random.0 - 1.0 / 41.0).abs() < 1e-9, "{report}");
}
