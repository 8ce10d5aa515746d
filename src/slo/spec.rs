//! OpenSLO v1 loading and validation.
//!
//! Owns reading SLO files (one or more YAML documents each, `---` separated; directories are
//! walked recursively for `*.yaml` and `*.yml`), turning `kind: SLO` and `kind: SLI`
//! documents into a [`Catalog`], and every check a spec must pass before the engine runs it.
//!
//! Guarantees:
//! - All problems are collected, not just the first; each names the file, the 1-based
//!   document number and the field path (`spec.objectives[0].target`).
//! - Unknown fields are never an error: those of an SLO document (its inline indicator
//!   included) are kept, by field path, in `Slo::unknown`; those of an SLI document are dropped.
//!   Inside Vigil's own `metricSource` spec, whose schema Vigil owns, an unknown key is a
//!   warning (a misspelt `filtr:` would otherwise be silently dropped).
//! - Kinds other than `SLO` and `SLI` (`Service`, `AlertPolicy`, `DataSource`, …) are
//!   accepted, ignored, and reported as a warning.
//! - Alert conditions that can never fire are reported: the burn rate cannot exceed
//!   1 ÷ (1 − objective) (10 for a 90% objective), so a condition whose derived threshold
//!   (budget fraction × longest period ÷ long window) is at or above that, or whose long
//!   window is longer than the SLO period, is an error when the SLO asked for it explicitly
//!   (`vigil.dev/alert-windows`), and a warning — the condition dropped — when it came from
//!   the defaults.
//!
//! Vigil extensions, all in `metadata.annotations` so the files stay valid OpenSLO:
//! - `vigil.dev/runbook` (or `runbook_url`): runbook link shown with alerts.
//! - `vigil.dev/alert-windows`: replaces the default conditions; entries separated by `,`,
//!   `;` or newlines, each `<page|ticket> <percent of budget>% <long window> <short window>`,
//!   e.g. `page 2% 1h 5m, page 5% 6h 30m, ticket 10% 3d 6h` (the defaults).
//! - `vigil.dev/min-events`: events each window of a page condition needs (default 10).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::budget::{
    Budgeting, BurnCondition, DEFAULT_MIN_EVENTS, Severity, TrackerConfig, max_burn_rate,
};
use super::source::{self, MetricSource, Table};
use super::window::{CalendarWindow, DAY, DurationUnit, SpecDuration, TimeWindow, format_secs};

/// The only apiVersion Vigil reads.
pub const API_VERSION: &str = "openslo/v1";
/// The `metricSource.type` of Vigil's own source.
pub const VIGIL_SOURCE_TYPE: &str = "Vigil";
pub const ANNOTATION_RUNBOOK: &str = "vigil.dev/runbook";
pub const ANNOTATION_RUNBOOK_URL: &str = "runbook_url";
pub const ANNOTATION_ALERT_WINDOWS: &str = "vigil.dev/alert-windows";
pub const ANNOTATION_MIN_EVENTS: &str = "vigil.dev/min-events";

/// Longest rolling or calendar window accepted (memory of the per-minute series).
const MAX_WINDOW_SECS: i64 = 12 * 31 * DAY + 3600;

/// What is wrong with a spec (or, for warnings, worth knowing).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("cannot read: {0}")]
    Io(String),
    #[error("not valid YAML: {0}")]
    Yaml(String),
    #[error("required field is missing")]
    Missing,
    #[error("expected {expected}, got {got}")]
    WrongType {
        expected: &'static str,
        got: &'static str,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Ignored(String),
}

/// One problem, located.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecError {
    pub file: PathBuf,
    /// 1-based document number within the file; `None` for whole-file problems.
    pub document: Option<usize>,
    /// Dotted field path, e.g. `spec.objectives[0].target`; empty for the whole document.
    pub field: String,
    pub problem: Problem,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(document) = self.document {
            write!(f, ", document {document}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// Every error found while loading, plus the warnings.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecErrors {
    pub errors: Vec<SpecError>,
    pub warnings: Vec<SpecError>,
}

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error(s) in SLO specs", self.errors.len())?;
        for error in &self.errors {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}

/// Where a spec came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
    pub document: usize,
}

/// The two sides of a ratio metric.
#[derive(Debug, Clone, PartialEq)]
pub enum RatioMetric {
    GoodTotal {
        good: MetricSource,
        total: MetricSource,
    },
    BadTotal {
        bad: MetricSource,
        total: MetricSource,
    },
}

/// A service level indicator, from a `kind: SLI` document or inline in an SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct Sli {
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub ratio: RatioMetric,
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetingMethod {
    Occurrences,
    Timeslices,
}

/// One objective of an SLO; each has its own budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    pub display_name: Option<String>,
    /// In (0, 1), from `target` or `targetPercent` ÷ 100.
    pub target: f64,
    /// Timeslices only: a slice is good when its ratio is at least this.
    pub time_slice_target: Option<f64>,
    /// Timeslices only: slice length (whole minutes).
    pub time_slice_window: Option<SpecDuration>,
    /// Alert conditions that can fire for this objective.
    pub conditions: Vec<BurnCondition>,
}

/// A loaded, validated SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub service: Option<String>,
    pub labels: BTreeMap<String, Vec<String>>,
    pub annotations: BTreeMap<String, String>,
    pub runbook_url: Option<String>,
    pub indicator: Sli,
    pub window: TimeWindow,
    pub budgeting: BudgetingMethod,
    pub objectives: Vec<Objective>,
    /// Events each window of a page condition needs.
    pub min_events: u64,
    /// Fields Vigil does not read, by field path, kept as written.
    pub unknown: BTreeMap<String, Value>,
    pub origin: Origin,
}

impl Slo {
    /// What the budget arithmetic needs for objective `index`.
    pub fn tracker_config(&self, index: usize) -> Option<TrackerConfig> {
        let objective = self.objectives.get(index)?;
        let budgeting = match self.budgeting {
            BudgetingMethod::Occurrences => Budgeting::Occurrences,
            BudgetingMethod::Timeslices => Budgeting::Timeslices {
                target: objective.time_slice_target?,
                slice_secs: objective.time_slice_window?.fixed_secs()?,
            },
        };
        Some(TrackerConfig {
            objective: objective.target,
            window: self.window.clone(),
            budgeting,
            conditions: objective.conditions.clone(),
            min_events: self.min_events,
        })
    }
}

/// Everything loaded from a set of paths.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Catalog {
    /// In file order (paths sorted within directories), then document order.
    pub slos: Vec<Slo>,
    /// The `kind: SLI` documents.
    pub slis: Vec<Sli>,
    pub warnings: Vec<SpecError>,
}

impl Catalog {
    pub fn slo(&self, name: &str) -> Option<&Slo> {
        self.slos.iter().find(|slo| slo.name == name)
    }
}

/// The outcome of `vigil slo validate`.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationReport {
    pub files: usize,
    pub slos: usize,
    pub errors: Vec<SpecError>,
    pub warnings: Vec<SpecError>,
}

impl ValidationReport {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

impl fmt::Display for ValidationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for error in &self.errors {
            writeln!(f, "error: {error}")?;
        }
        for warning in &self.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        write!(
            f,
            "{} file(s), {} SLO(s): {} error(s), {} warning(s)",
            self.files,
            self.slos,
            self.errors.len(),
            self.warnings.len()
        )
    }
}

/// Loads every SLO under `paths` (files, or directories walked for `*.yaml`/`*.yml`).
/// Fails with all errors found; warnings of a successful load are in `Catalog::warnings`.
pub fn load_paths(paths: &[PathBuf]) -> Result<Catalog, SpecErrors> {
    let (catalog, errors, _) = load(paths);
    if errors.is_empty() {
        Ok(catalog)
    } else {
        Err(SpecErrors {
            errors,
            warnings: catalog.warnings,
        })
    }
}

/// Checks every SLO under `paths`; the report lists all errors and warnings.
pub fn validate(paths: &[PathBuf]) -> ValidationReport {
    let (catalog, errors, files) = load(paths);
    ValidationReport {
        files,
        slos: catalog.slos.len(),
        errors,
        warnings: catalog.warnings,
    }
}

/// Loads SLOs from YAML text, as if read from `file` (for uploads and tests).
pub fn load_str(text: &str, file: &Path) -> Result<Catalog, SpecErrors> {
    let mut loader = Loader::default();
    loader.read_text(text, file);
    let (catalog, errors) = loader.finish();
    if errors.is_empty() {
        Ok(catalog)
    } else {
        Err(SpecErrors {
            errors,
            warnings: catalog.warnings,
        })
    }
}

fn load(paths: &[PathBuf]) -> (Catalog, Vec<SpecError>, usize) {
    let mut loader = Loader::default();
    let mut files = Vec::new();
    for path in paths {
        collect_files(path, &mut files, &mut loader.errors);
    }
    for file in &files {
        match std::fs::read_to_string(file) {
            Ok(text) => loader.read_text(&text, file),
            Err(e) => loader.errors.push(SpecError {
                file: file.clone(),
                document: None,
                field: String::new(),
                problem: Problem::Io(e.to_string()),
            }),
        }
    }
    let (catalog, errors) = loader.finish();
    (catalog, errors, files.len())
}

fn collect_files(path: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<SpecError>) {
    let io_error = |e: std::io::Error| SpecError {
        file: path.to_path_buf(),
        document: None,
        field: String::new(),
        problem: Problem::Io(e.to_string()),
    };
    let metadata = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return errors.push(io_error(e)),
    };
    if !metadata.is_dir() {
        // A file named explicitly is read whatever its extension.
        files.push(path.to_path_buf());
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => return errors.push(io_error(e)),
    };
    let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    children.sort();
    for child in children {
        if child.is_dir() {
            collect_files(&child, files, errors);
        } else if child
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml")
        {
            files.push(child);
        }
    }
}

/// An SLO whose indicator may still be a reference.
struct PendingSlo {
    slo: Slo,
    indicator_ref: Option<String>,
}

#[derive(Default)]
struct Loader {
    errors: Vec<SpecError>,
    warnings: Vec<SpecError>,
    slos: Vec<PendingSlo>,
    slis: Vec<Sli>,
}

impl Loader {
    fn read_text(&mut self, text: &str, file: &Path) {
        for (index, document) in serde_norway::Deserializer::from_str(text).enumerate() {
            let number = index + 1;
            match Value::deserialize(document) {
                Ok(Value::Null) => {}
                Ok(value) => self.read_document(&value, file, number),
                Err(e) => {
                    self.errors.push(SpecError {
                        file: file.to_path_buf(),
                        document: Some(number),
                        field: String::new(),
                        problem: Problem::Yaml(e.to_string()),
                    });
                    // The rest of the stream cannot be trusted after a syntax error.
                    break;
                }
            }
        }
    }

    fn read_document(&mut self, value: &Value, file: &Path, number: usize) {
        let mut doc = Doc {
            file,
            number,
            errors: Vec::new(),
            warnings: Vec::new(),
            unknown: BTreeMap::new(),
        };
        if let Some(parsed) = doc.document(value) {
            match parsed {
                Parsed::Slo(pending) => {
                    if doc.errors.is_empty() {
                        self.slos.push(*pending);
                    }
                }
                Parsed::Sli(sli) => {
                    if doc.errors.is_empty() {
                        self.slis.push(*sli);
                    }
                }
            }
        }
        self.errors.append(&mut doc.errors);
        self.warnings.append(&mut doc.warnings);
    }

    fn finish(mut self) -> (Catalog, Vec<SpecError>) {
        let mut by_name: BTreeMap<String, Origin> = BTreeMap::new();
        for sli in &self.slis {
            if let Some(first) = by_name.get(&sli.name) {
                self.errors
                    .push(defined_twice("SLI", &sli.name, &sli.origin, first));
            } else {
                by_name.insert(sli.name.clone(), sli.origin.clone());
            }
        }
        let mut slo_names: BTreeMap<String, Origin> = BTreeMap::new();
        let mut slos = Vec::new();
        for PendingSlo {
            mut slo,
            indicator_ref,
        } in std::mem::take(&mut self.slos)
        {
            if let Some(first) = slo_names.get(&slo.name) {
                self.errors
                    .push(defined_twice("SLO", &slo.name, &slo.origin, first));
                continue;
            }
            slo_names.insert(slo.name.clone(), slo.origin.clone());
            if let Some(name) = indicator_ref {
                match self.slis.iter().find(|sli| sli.name == name) {
                    Some(sli) => slo.indicator = sli.clone(),
                    None => {
                        self.errors.push(located(
                            &slo.origin,
                            "spec.indicatorRef",
                            Problem::Invalid(format!("no SLI named '{name}' in the loaded files")),
                        ));
                        continue;
                    }
                }
            }
            slos.push(slo);
        }
        let catalog = Catalog {
            slos,
            slis: self.slis,
            warnings: self.warnings,
        };
        (catalog, self.errors)
    }
}

fn located(origin: &Origin, field: &str, problem: Problem) -> SpecError {
    SpecError {
        file: origin.file.clone(),
        document: Some(origin.document),
        field: field.to_owned(),
        problem,
    }
}

enum Parsed {
    Slo(Box<PendingSlo>),
    Sli(Box<Sli>),
}

fn at(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn invalid(message: impl Into<String>) -> Problem {
    Problem::Invalid(message.into())
}

/// One document being read: its location, what it found wrong, and the fields it did not use.
struct Doc<'a> {
    file: &'a Path,
    number: usize,
    errors: Vec<SpecError>,
    warnings: Vec<SpecError>,
    unknown: BTreeMap<String, Value>,
}

impl Doc<'_> {
    fn error(&mut self, field: &str, problem: Problem) {
        self.errors.push(self.locate(field, problem));
    }

    fn warn(&mut self, field: &str, problem: Problem) {
        self.warnings.push(self.locate(field, problem));
    }

    fn locate(&self, field: &str, problem: Problem) -> SpecError {
        SpecError {
            file: self.file.to_path_buf(),
            document: Some(self.number),
            field: field.to_owned(),
            problem,
        }
    }

    fn origin(&self) -> Origin {
        Origin {
            file: self.file.to_path_buf(),
            document: self.number,
        }
    }

    fn object<'v>(&mut self, field: &str, value: &'v Value) -> Option<&'v Map<String, Value>> {
        match value {
            Value::Object(map) => Some(map),
            other => {
                self.error(
                    field,
                    Problem::WrongType {
                        expected: "a mapping",
                        got: type_name(other),
                    },
                );
                None
            }
        }
    }

    fn required<'v>(
        &mut self,
        field: &str,
        map: &'v Map<String, Value>,
        key: &str,
    ) -> Option<&'v Value> {
        match map.get(key) {
            None | Some(Value::Null) => {
                self.error(&at(field, key), Problem::Missing);
                None
            }
            Some(value) => Some(value),
        }
    }

    /// Records the keys of `map` not in `known` as unknown (kept), or warns when `warn`.
    fn rest(&mut self, field: &str, map: &Map<String, Value>, known: &[&str], warn: bool) {
        for (key, value) in map {
            if known.contains(&key.as_str()) {
                continue;
            }
            let path = at(field, key);
            if warn {
                self.warn(
                    &path,
                    Problem::Ignored(format!(
                        "unknown field (expected one of: {})",
                        known.join(", ")
                    )),
                );
            }
            self.unknown.insert(path, value.clone());
        }
    }

    fn string(&mut self, field: &str, value: &Value) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            other => {
                self.error(
                    field,
                    Problem::WrongType {
                        expected: "a string",
                        got: type_name(other),
                    },
                );
                None
            }
        }
    }

    fn opt_string(&mut self, field: &str, map: &Map<String, Value>, key: &str) -> Option<String> {
        match map.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => self.string(&at(field, key), value),
        }
    }

    fn req_string(&mut self, field: &str, map: &Map<String, Value>, key: &str) -> Option<String> {
        let value = self.required(field, map, key)?;
        let text = self.string(&at(field, key), value)?;
        if text.trim().is_empty() {
            self.error(&at(field, key), invalid("must not be empty"));
            return None;
        }
        Some(text)
    }

    /// A number, also accepted as a numeric string ("99.9").
    fn number(&mut self, field: &str, value: &Value) -> Option<f64> {
        let parsed = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match parsed {
            Some(n) if n.is_finite() => Some(n),
            _ => {
                self.error(
                    field,
                    Problem::WrongType {
                        expected: "a number",
                        got: type_name(value),
                    },
                );
                None
            }
        }
    }

    fn duration(&mut self, field: &str, value: &Value) -> Option<SpecDuration> {
        let text = self.string(field, value)?;
        match SpecDuration::parse(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(field, invalid(e.to_string()));
                None
            }
        }
    }

    fn document(&mut self, value: &Value) -> Option<Parsed> {
        let root = self.object("", value)?;
        let kind = self.req_string("", root, "kind");
        let api_version = self.req_string("", root, "apiVersion");
        let kind = kind?;
        if kind != "SLO" && kind != "SLI" {
            const OPENSLO_KINDS: [&str; 5] = [
                "Service",
                "DataSource",
                "AlertPolicy",
                "AlertCondition",
                "AlertNotificationTarget",
            ];
            let note = if OPENSLO_KINDS.contains(&kind.as_str()) {
                format!("kind {kind} is not evaluated by Vigil; document ignored")
            } else {
                format!("unknown kind '{kind}' (Vigil reads SLO and SLI); document ignored")
            };
            self.warn("kind", Problem::Ignored(note));
            return None;
        }
        if let Some(version) = &api_version
            && version != API_VERSION
        {
            self.error(
                "apiVersion",
                invalid(format!("must be {API_VERSION} (got {version})")),
            );
        }
        self.rest("", root, &["apiVersion", "kind", "metadata", "spec"], false);
        let metadata = self
            .required("", root, "metadata")
            .and_then(|m| self.object("metadata", m));
        let spec = self
            .required("", root, "spec")
            .and_then(|s| self.object("spec", s));
        let (metadata, spec) = (metadata?, spec?);
        if kind == "SLI" {
            let meta = self.metadata("metadata", metadata, None)?;
            let sli = self.sli_spec("spec", spec, meta)?;
            Some(Parsed::Sli(Box::new(sli)))
        } else {
            self.slo(metadata, spec).map(|p| Parsed::Slo(Box::new(p)))
        }
    }

    fn metadata(
        &mut self,
        field: &str,
        map: &Map<String, Value>,
        default_name: Option<&str>,
    ) -> Option<Metadata> {
        self.rest(
            field,
            map,
            &["name", "displayName", "labels", "annotations"],
            false,
        );
        let name = match default_name {
            Some(default) if map.get("name").is_none() => Some(default.to_owned()),
            _ => self.req_string(field, map, "name"),
        };
        if let Some(name) = &name
            && let Err(why) = check_name(name)
        {
            self.error(&at(field, "name"), invalid(why));
        }
        let display_name = self.opt_string(field, map, "displayName");
        let mut labels = BTreeMap::new();
        if let Some(value) = map.get("labels").filter(|v| !v.is_null()) {
            let path = at(field, "labels");
            if let Some(entries) = self.object(&path, value) {
                for (key, value) in entries {
                    let values = match value {
                        Value::Array(items) => items.iter().filter_map(scalar_text).collect(),
                        other => scalar_text(other).into_iter().collect::<Vec<_>>(),
                    };
                    if values.is_empty() {
                        self.warn(
                            &at(&path, key),
                            Problem::Ignored("label values must be strings; ignored".into()),
                        );
                    } else {
                        labels.insert(key.clone(), values);
                    }
                }
            }
        }
        let mut annotations = BTreeMap::new();
        if let Some(value) = map.get("annotations").filter(|v| !v.is_null()) {
            let path = at(field, "annotations");
            if let Some(entries) = self.object(&path, value) {
                for (key, value) in entries {
                    match scalar_text(value) {
                        Some(text) => {
                            annotations.insert(key.clone(), text);
                        }
                        None => self.warn(
                            &format!("{path}[{key}]"),
                            Problem::Ignored("annotation values must be strings; ignored".into()),
                        ),
                    }
                }
            }
        }
        Some(Metadata {
            name: name?,
            display_name,
            labels,
            annotations,
        })
    }

    fn slo(
        &mut self,
        metadata: &Map<String, Value>,
        spec: &Map<String, Value>,
    ) -> Option<PendingSlo> {
        let meta = self.metadata("metadata", metadata, None);
        self.rest(
            "spec",
            spec,
            &[
                "description",
                "service",
                "indicator",
                "indicatorRef",
                "timeWindow",
                "budgetingMethod",
                "objectives",
            ],
            false,
        );
        if spec.get("alertPolicies").is_some() {
            self.warn(
                "spec.alertPolicies",
                Problem::Ignored(format!(
                    "OpenSLO alert policies are not evaluated; Vigil derives burn-rate alerts \
                     (see the {ANNOTATION_ALERT_WINDOWS} annotation)"
                )),
            );
        }
        let description = self.opt_string("spec", spec, "description");
        let service = self.opt_string("spec", spec, "service");

        // Indicator: inline or by reference.
        let slo_name = meta.as_ref().map(|m| m.name.clone()).unwrap_or_default();
        let mut indicator = None;
        let mut indicator_ref = None;
        match (spec.get("indicator"), spec.get("indicatorRef")) {
            (Some(_), Some(_)) => self.error(
                "spec",
                invalid("give either indicator or indicatorRef, not both"),
            ),
            (None, None) => self.error(
                "spec.indicator",
                invalid("required field is missing (or give indicatorRef)"),
            ),
            (Some(inline), None) => {
                if let Some(map) = self.object("spec.indicator", inline) {
                    self.rest("spec.indicator", map, &["metadata", "spec"], false);
                    let inline_meta = match map.get("metadata") {
                        Some(m) => self.object("spec.indicator.metadata", m).and_then(|m| {
                            self.metadata("spec.indicator.metadata", m, Some(&slo_name))
                        }),
                        None => Some(Metadata::named(&slo_name)),
                    };
                    let inline_spec = self
                        .required("spec.indicator", map, "spec")
                        .and_then(|s| self.object("spec.indicator.spec", s));
                    if let (Some(m), Some(s)) = (inline_meta, inline_spec) {
                        indicator = self.sli_spec("spec.indicator.spec", s, m);
                    }
                }
            }
            (None, Some(reference)) => {
                indicator_ref = self.string("spec.indicatorRef", reference);
            }
        }

        let window = self.time_window(spec);
        let budgeting = self.budgeting(spec);
        let annotations = meta
            .as_ref()
            .map(|m| m.annotations.clone())
            .unwrap_or_default();
        let explicit = self.alert_windows(&annotations);
        let min_events = self.min_events(&annotations);
        let objectives = self.objectives(spec, budgeting, window.as_ref(), explicit);

        let meta = meta?;
        let runbook_url = annotations
            .get(ANNOTATION_RUNBOOK)
            .or_else(|| annotations.get(ANNOTATION_RUNBOOK_URL))
            .cloned();
        // Until a reference is resolved the indicator is a placeholder named after it.
        let indicator = match (indicator, &indicator_ref) {
            (Some(sli), _) => sli,
            (None, Some(name)) => Sli {
                name: name.clone(),
                display_name: None,
                description: None,
                ratio: placeholder_ratio(),
                origin: self.origin(),
            },
            (None, None) => return None,
        };
        Some(PendingSlo {
            slo: Slo {
                name: meta.name,
                display_name: meta.display_name,
                description,
                service,
                labels: meta.labels,
                annotations,
                runbook_url,
                indicator,
                window: window?,
                budgeting: budgeting?,
                objectives: objectives?,
                min_events: min_events?,
                unknown: std::mem::take(&mut self.unknown),
                origin: self.origin(),
            },
            indicator_ref,
        })
    }

    fn sli_spec(&mut self, field: &str, spec: &Map<String, Value>, meta: Metadata) -> Option<Sli> {
        self.rest(
            field,
            spec,
            &["description", "ratioMetric", "thresholdMetric"],
            false,
        );
        let description = self.opt_string(field, spec, "description");
        if spec.get("thresholdMetric").is_some() {
            self.error(
                &at(field, "thresholdMetric"),
                invalid(
                    "thresholdMetric is not supported: write a ratioMetric whose good events \
                     are the ones within the threshold",
                ),
            );
            return None;
        }
        let path = at(field, "ratioMetric");
        let ratio = self
            .required(field, spec, "ratioMetric")
            .and_then(|r| self.object(&path, r))?;
        self.rest(
            &path,
            ratio,
            &["counter", "good", "bad", "total", "raw", "rawType"],
            false,
        );
        if ratio.get("raw").is_some() {
            self.error(
                &at(&path, "raw"),
                invalid("raw ratio metrics are not supported: give good (or bad) and total"),
            );
            return None;
        }
        // Numerator first, then total, so problems come out in document order.
        let numerator = match (ratio.get("good"), ratio.get("bad")) {
            (Some(_), Some(_)) => {
                self.error(
                    &path,
                    invalid("give either good or bad with total, not both"),
                );
                None
            }
            (None, None) => {
                self.error(
                    &at(&path, "good"),
                    invalid("required field is missing (or give bad)"),
                );
                None
            }
            (Some(good), None) => self.metric(&at(&path, "good"), good).map(|m| (true, m)),
            (None, Some(bad)) => self.metric(&at(&path, "bad"), bad).map(|m| (false, m)),
        };
        let total = self
            .required(&path, ratio, "total")
            .and_then(|v| self.metric(&at(&path, "total"), v));
        let ratio = match (numerator?, total?) {
            ((true, good), total) => RatioMetric::GoodTotal { good, total },
            ((false, bad), total) => RatioMetric::BadTotal { bad, total },
        };
        Some(Sli {
            name: meta.name,
            display_name: meta.display_name,
            description,
            ratio,
            origin: self.origin(),
        })
    }

    /// `{metricSource: {type: Vigil, spec: {...}}}`.
    fn metric(&mut self, field: &str, value: &Value) -> Option<MetricSource> {
        let map = self.object(field, value)?;
        self.rest(field, map, &["metricSource"], false);
        let path = at(field, "metricSource");
        let source = self
            .required(field, map, "metricSource")
            .and_then(|s| self.object(&path, s))?;
        self.rest(&path, source, &["type", "spec", "metricSourceRef"], false);
        if source.get("metricSourceRef").is_some() {
            self.error(
                &at(&path, "metricSourceRef"),
                invalid(format!(
                    "DataSource references are not supported: write type: {VIGIL_SOURCE_TYPE} \
                     with its spec inline"
                )),
            );
            return None;
        }
        let source_type = self.req_string(&path, source, "type")?;
        if !source_type.eq_ignore_ascii_case(VIGIL_SOURCE_TYPE) {
            self.error(
                &at(&path, "type"),
                invalid(format!(
                    "unsupported metricSource type '{source_type}': Vigil evaluates type: \
                     {VIGIL_SOURCE_TYPE} only"
                )),
            );
            return None;
        }
        let spec_path = at(&path, "spec");
        let spec = self
            .required(&path, source, "spec")
            .and_then(|s| self.object(&spec_path, s))?;
        self.vigil_source(&spec_path, spec)
    }

    fn vigil_source(&mut self, field: &str, spec: &Map<String, Value>) -> Option<MetricSource> {
        const TABLE_KEYS: [&str; 4] = ["table", "filter", "time_column", "value"];
        if let Some(query) = spec.get("query") {
            self.rest(field, spec, &["query"], true);
            let path = at(field, "query");
            let query = self.string(&path, query)?;
            if TABLE_KEYS.iter().any(|k| spec.contains_key(*k)) {
                self.error(
                    field,
                    invalid("query excludes table, filter, time_column and value"),
                );
                return None;
            }
            match source::check_query(&query) {
                Ok(missing) => {
                    for column in missing {
                        self.warn(
                            &path,
                            Problem::Ignored(format!(
                                "the query never mentions a '{column}' column; it must return \
                                 columns named time and count"
                            )),
                        );
                    }
                    Some(MetricSource::Query { query })
                }
                Err(problem) => {
                    self.error(&path, invalid(problem.to_string()));
                    None
                }
            }
        } else {
            let mut known = TABLE_KEYS.to_vec();
            known.push("query");
            self.rest(field, spec, &known, true);
            let table_name = self.req_string(field, spec, "table");
            let table = table_name.and_then(|name| match Table::parse(&name) {
                Some(t) => Some(t),
                None => {
                    let names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
                    self.error(
                        &at(field, "table"),
                        invalid(format!(
                            "unknown table '{name}' (expected one of: {})",
                            names.join(", ")
                        )),
                    );
                    None
                }
            });
            let filter = self.req_string(field, spec, "filter").and_then(|filter| {
                match source::check_predicate(&filter) {
                    Ok(()) => Some(filter),
                    Err(problem) => {
                        self.error(&at(field, "filter"), invalid(problem.to_string()));
                        None
                    }
                }
            });
            let time_column = match self.opt_string(field, spec, "time_column") {
                None => table.map(|t| t.time_column().to_owned()),
                Some(column) => match source::check_identifier(&column) {
                    Ok(()) => Some(column),
                    Err(problem) => {
                        self.error(&at(field, "time_column"), invalid(problem.to_string()));
                        None
                    }
                },
            };
            let value: Option<Option<String>> = match spec.get("value") {
                None | Some(Value::Null) => Some(None),
                Some(v) => {
                    let path = at(field, "value");
                    self.string(&path, v)
                        .and_then(|expr| match source::check_expression(&expr) {
                            Ok(()) => Some(Some(expr)),
                            Err(problem) => {
                                self.error(&path, invalid(problem.to_string()));
                                None
                            }
                        })
                }
            };
            Some(MetricSource::Table {
                table: table?,
                filter: filter?,
                time_column: time_column?,
                value: value?,
            })
        }
    }

    fn time_window(&mut self, spec: &Map<String, Value>) -> Option<TimeWindow> {
        let list = self.required("spec", spec, "timeWindow")?;
        let first = match list {
            Value::Array(items) => {
                if items.len() > 1 {
                    self.warn(
                        "spec.timeWindow",
                        Problem::Ignored("only the first time window is used".into()),
                    );
                }
                match items.first() {
                    Some(first) => first,
                    None => {
                        self.error("spec.timeWindow", invalid("needs one time window"));
                        return None;
                    }
                }
            }
            other => {
                self.error(
                    "spec.timeWindow",
                    Problem::WrongType {
                        expected: "a list",
                        got: type_name(other),
                    },
                );
                return None;
            }
        };
        let field = "spec.timeWindow[0]";
        let window = self.object(field, first)?;
        self.rest(field, window, &["duration", "isRolling", "calendar"], false);
        let duration = self
            .required(field, window, "duration")
            .and_then(|d| self.duration(&at(field, "duration"), d));
        let rolling = match window.get("isRolling") {
            None | Some(Value::Null) => !window.contains_key("calendar"),
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.error(
                    &at(field, "isRolling"),
                    Problem::WrongType {
                        expected: "a boolean",
                        got: type_name(other),
                    },
                );
                return None;
            }
        };
        let duration = duration?;
        let duration_field = at(field, "duration");
        if duration.max_secs() > MAX_WINDOW_SECS {
            self.error(
                &duration_field,
                invalid(format!("{duration} is longer than a year")),
            );
            return None;
        }
        if rolling {
            if window.contains_key("calendar") {
                self.warn(
                    &at(field, "calendar"),
                    Problem::Ignored("ignored: the window is rolling".into()),
                );
            }
            match duration.fixed_secs() {
                Some(secs) => Some(TimeWindow::Rolling { duration, secs }),
                None => {
                    self.error(
                        &duration_field,
                        invalid(format!(
                            "a rolling window needs a fixed unit (m, h, d, w), got {duration}; \
                             for calendar months set isRolling: false and calendar"
                        )),
                    );
                    None
                }
            }
        } else {
            let path = at(field, "calendar");
            let calendar = self
                .required(field, window, "calendar")
                .and_then(|c| self.object(&path, c))?;
            self.rest(&path, calendar, &["startTime", "timeZone"], false);
            let tz =
                self.req_string(&path, calendar, "timeZone")
                    .and_then(|name| match Tz::from_str(&name) {
                        Ok(tz) => Some(tz),
                        Err(_) => {
                            self.error(
                                &at(&path, "timeZone"),
                                invalid(format!(
                                    "unknown time zone '{name}' (use an IANA name \
                                 such as Europe/Berlin)"
                                )),
                            );
                            None
                        }
                    });
            let start = self.req_string(&path, calendar, "startTime");
            let (tz, start) = (tz?, start?);
            let start = match parse_start_time(&start, &tz) {
                Some(start) => start,
                None => {
                    self.error(
                        &at(&path, "startTime"),
                        invalid(format!(
                            "'{start}' is not a date-time (expected e.g. 2024-01-01 00:00:00)"
                        )),
                    );
                    return None;
                }
            };
            match CalendarWindow::new(duration, start, tz) {
                Some(calendar) => Some(TimeWindow::Calendar(calendar)),
                None => {
                    self.error(
                        &duration_field,
                        invalid(format!(
                            "a calendar window needs a calendar unit (d, w, M, Q, Y), \
                             got {duration}"
                        )),
                    );
                    None
                }
            }
        }
    }

    fn budgeting(&mut self, spec: &Map<String, Value>) -> Option<BudgetingMethod> {
        let text = self.req_string("spec", spec, "budgetingMethod")?;
        match text.as_str() {
            "Occurrences" => Some(BudgetingMethod::Occurrences),
            "Timeslices" => Some(BudgetingMethod::Timeslices),
            other => {
                self.error(
                    "spec.budgetingMethod",
                    invalid(format!("must be Occurrences or Timeslices (got {other})")),
                );
                None
            }
        }
    }

    /// `Some(conditions)` when the annotation is present and valid; `None` for the defaults.
    fn alert_windows(
        &mut self,
        annotations: &BTreeMap<String, String>,
    ) -> Option<Vec<BurnCondition>> {
        let text = annotations.get(ANNOTATION_ALERT_WINDOWS)?;
        let field = format!("metadata.annotations[{ANNOTATION_ALERT_WINDOWS}]");
        let mut conditions = Vec::new();
        let mut ok = true;
        for entry in text
            .split([',', ';', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            match parse_condition(entry) {
                Ok(condition) => conditions.push(condition),
                Err(why) => {
                    self.error(&field, invalid(format!("'{entry}': {why}")));
                    ok = false;
                }
            }
        }
        if conditions.is_empty() && ok {
            self.error(&field, invalid("lists no alert conditions"));
        }
        // On error the defaults stand in, so objectives are still checked.
        ok.then_some(conditions)
    }

    fn min_events(&mut self, annotations: &BTreeMap<String, String>) -> Option<u64> {
        match annotations.get(ANNOTATION_MIN_EVENTS) {
            None => Some(DEFAULT_MIN_EVENTS),
            Some(text) => match text.trim().parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    self.error(
                        &format!("metadata.annotations[{ANNOTATION_MIN_EVENTS}]"),
                        invalid(format!("must be a whole number of events (got '{text}')")),
                    );
                    None
                }
            },
        }
    }

    fn objectives(
        &mut self,
        spec: &Map<String, Value>,
        budgeting: Option<BudgetingMethod>,
        window: Option<&TimeWindow>,
        explicit: Option<Vec<BurnCondition>>,
    ) -> Option<Vec<Objective>> {
        let list = self.required("spec", spec, "objectives")?;
        let items = match list {
            Value::Array(items) if !items.is_empty() => items,
            Value::Array(_) => {
                self.error("spec.objectives", invalid("needs at least one objective"));
                return None;
            }
            other => {
                self.error(
                    "spec.objectives",
                    Problem::WrongType {
                        expected: "a list",
                        got: type_name(other),
                    },
                );
                return None;
            }
        };
        let mut objectives = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.objective(
                &format!("spec.objectives[{i}]"),
                item,
                budgeting,
                window,
                explicit.as_deref(),
            ) {
                Some(objective) => objectives.push(objective),
                None => ok = false,
            }
        }
        ok.then_some(objectives)
    }

    fn objective(
        &mut self,
        field: &str,
        value: &Value,
        budgeting: Option<BudgetingMethod>,
        window: Option<&TimeWindow>,
        explicit: Option<&[BurnCondition]>,
    ) -> Option<Objective> {
        let map = self.object(field, value)?;
        self.rest(
            field,
            map,
            &[
                "displayName",
                "target",
                "targetPercent",
                "timeSliceTarget",
                "timeSliceWindow",
            ],
            false,
        );
        let display_name = self.opt_string(field, map, "displayName");
        let target = match (map.get("target"), map.get("targetPercent")) {
            (Some(_), Some(_)) => {
                self.error(
                    field,
                    invalid("give either target or targetPercent, not both"),
                );
                None
            }
            (None, None) => {
                self.error(
                    &at(field, "target"),
                    invalid("required field is missing (or give targetPercent)"),
                );
                None
            }
            (Some(target), None) => {
                let path = at(field, "target");
                self.number(&path, target).and_then(|t| {
                    let hint = if (50.0..100.0).contains(&t) {
                        format!(" (did you mean targetPercent: {t}?)")
                    } else {
                        String::new()
                    };
                    self.fraction(&path, t, 1.0, &hint)
                })
            }
            (None, Some(percent)) => {
                let path = at(field, "targetPercent");
                self.number(&path, percent)
                    .and_then(|p| self.fraction(&path, p, 100.0, ""))
                    .map(|p| p / 100.0)
            }
        };
        let slice_target = match map.get("timeSliceTarget") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let path = at(field, "timeSliceTarget");
                self.number(&path, v).and_then(|t| {
                    if t > 0.0 && t <= 1.0 {
                        Some(t)
                    } else {
                        self.error(
                            &path,
                            invalid(format!("must be above 0 and at most 1 (got {t})")),
                        );
                        None
                    }
                })
            }
        };
        let slice_window = match map.get("timeSliceWindow") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let path = at(field, "timeSliceWindow");
                self.duration(&path, v).and_then(|d| match d.fixed_secs() {
                    Some(secs) if secs <= DAY => Some(d),
                    _ => {
                        self.error(
                            &path,
                            invalid(format!("must be whole minutes up to 1d (got {d})")),
                        );
                        None
                    }
                })
            }
        };
        match budgeting {
            Some(BudgetingMethod::Timeslices) => {
                if !map.contains_key("timeSliceTarget") {
                    self.error(
                        &at(field, "timeSliceTarget"),
                        invalid("required with budgetingMethod: Timeslices"),
                    );
                }
                if !map.contains_key("timeSliceWindow") {
                    self.error(
                        &at(field, "timeSliceWindow"),
                        invalid("required with budgetingMethod: Timeslices"),
                    );
                }
            }
            Some(BudgetingMethod::Occurrences) => {
                for key in ["timeSliceTarget", "timeSliceWindow"] {
                    if map.contains_key(key) {
                        self.warn(
                            &at(field, key),
                            Problem::Ignored("ignored with budgetingMethod: Occurrences".into()),
                        );
                    }
                }
            }
            None => {}
        }
        let target = target?;
        let conditions = match window {
            Some(window) => self.reachable_conditions(field, target, window, explicit),
            None => Vec::new(),
        };
        let timeslices = budgeting == Some(BudgetingMethod::Timeslices);
        if timeslices && (slice_target.is_none() || slice_window.is_none()) {
            return None;
        }
        Some(Objective {
            display_name,
            target,
            time_slice_target: slice_target.filter(|_| timeslices),
            time_slice_window: slice_window.filter(|_| timeslices),
            conditions,
        })
    }

    /// A target strictly between 0 and `scale`.
    fn fraction(&mut self, field: &str, value: f64, scale: f64, hint: &str) -> Option<f64> {
        if value > 0.0 && value < scale {
            Some(value)
        } else if value == scale {
            self.error(
                field,
                invalid(format!(
                    "must be below {scale}: a 100% objective leaves no error budget"
                )),
            );
            None
        } else {
            self.error(
                field,
                invalid(format!("must be between 0 and {scale} (got {value}){hint}")),
            );
            None
        }
    }

    /// Keeps the conditions that can fire for this objective; reports the others.
    fn reachable_conditions(
        &mut self,
        field: &str,
        target: f64,
        window: &TimeWindow,
        explicit: Option<&[BurnCondition]>,
    ) -> Vec<BurnCondition> {
        let defaults = BurnCondition::defaults();
        let (conditions, is_explicit) = match explicit {
            Some(conditions) => (conditions, true),
            None => (defaults.as_slice(), false),
        };
        let period = window.max_period_secs();
        let ceiling = max_burn_rate(target);
        let mut kept = Vec::new();
        for condition in conditions {
            let threshold = condition.threshold(period);
            let why = if condition.long_secs > period {
                Some(format!(
                    "{}: the long window is longer than the {} SLO window",
                    condition.describe(),
                    window.duration()
                ))
            } else if threshold >= ceiling {
                Some(format!(
                    "{} needs a burn rate above {} but a {}% objective burns at most {}: it can \
                     never fire",
                    condition.describe(),
                    round3(threshold),
                    round3(target * 100.0),
                    round3(ceiling)
                ))
            } else {
                None
            };
            match why {
                None => kept.push(*condition),
                Some(why) if is_explicit => self.error(field, invalid(why)),
                Some(why) => self.warn(
                    field,
                    Problem::Ignored(format!(
                        "default alert {why}; dropped (set {ANNOTATION_ALERT_WINDOWS} to choose \
                         conditions that can fire)"
                    )),
                ),
            }
        }
        kept
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

struct Metadata {
    name: String,
    display_name: Option<String>,
    labels: BTreeMap<String, Vec<String>>,
    annotations: BTreeMap<String, String>,
}

impl Metadata {
    fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            display_name: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn placeholder_ratio() -> RatioMetric {
    let source = MetricSource::Query {
        query: String::new(),
    };
    RatioMetric::GoodTotal {
        good: source.clone(),
        total: source,
    }
}

/// OpenSLO names follow DNS-1123 labels: at most 63 lowercase letters, digits and '-',
/// starting and ending with a letter or digit.
fn check_name(name: &str) -> Result<(), String> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let ends_ok = !name.starts_with('-') && !name.ends_with('-');
    if name.len() <= 63 && valid_chars && ends_ok && !name.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a valid name: at most 63 lowercase letters, digits and '-', \
             starting and ending with a letter or digit"
        ))
    }
}

/// `<page|ticket> <percent>% <long> <short>`.
fn parse_condition(entry: &str) -> Result<BurnCondition, String> {
    let parts: Vec<&str> = entry.split_whitespace().collect();
    let [severity, percent, long, short] = parts.as_slice() else {
        return Err("expected '<page|ticket> <percent>% <long window> <short window>'".into());
    };
    let severity = match severity.to_ascii_lowercase().as_str() {
        "page" => Severity::Page,
        "ticket" => Severity::Ticket,
        other => return Err(format!("severity must be page or ticket (got {other})")),
    };
    let fraction = percent
        .strip_suffix('%')
        .and_then(|p| p.parse::<f64>().ok())
        .filter(|p| p.is_finite() && *p > 0.0 && *p <= 100.0)
        .ok_or_else(|| format!("budget share must be a percentage in (0, 100]% (got {percent})"))?
        / 100.0;
    let secs = |text: &str| -> Result<i64, String> {
        let d = SpecDuration::parse(text).map_err(|e| e.to_string())?;
        match d.fixed_secs() {
            Some(secs) if d.unit != DurationUnit::Minute || secs >= 60 => Ok(secs),
            _ => Err(format!("window {d} must use m, h, d or w")),
        }
    };
    let (long_secs, short_secs) = (secs(long)?, secs(short)?);
    if short_secs >= long_secs {
        return Err(format!(
            "the short window ({}) must be shorter than the long one ({})",
            format_secs(short_secs),
            format_secs(long_secs)
        ));
    }
    Ok(BurnCondition {
        severity,
        budget_fraction: fraction,
        long_secs,
        short_secs,
    })
}

/// Calendar start times: `2024-01-01 00:00:00`, `2024-01-01T00:00:00`, `2024-01-01`, or
/// RFC 3339 with an offset (converted to local time in `tz`).
fn parse_start_time(text: &str, tz: &Tz) -> Option<NaiveDateTime> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(tz).naive_local());
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t);
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// The error for a second document defining `name` (first defined at `first`).
fn defined_twice(kind: &str, name: &str, origin: &Origin, first: &Origin) -> SpecError {
    located(
        origin,
        "metadata.name",
        Problem::Invalid(format!(
            "{kind} '{name}' is already defined in {}, document {}",
            first.file.display(),
            first.document
        )),
    )
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
