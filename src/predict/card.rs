//! Versioned model files, each with a small JSON card, and an atomically switched `current`
//! pointer.
//!
//! # Layout
//!
//! ```text
//! <dir>/
//!   current                  the version in use, one line
//!   <version>/model.json     the model itself (any serde-serialisable type)
//!   <version>/card.json      a ModelCard: kind, version, training range, features, metrics
//! ```
//!
//! # Guarantees
//!
//! Every file is written to `<name>.tmp`, flushed with `fsync`, renamed over its final name,
//! and the directory is synced, so a reader never sees a half-written file. [`save`] writes
//! the model and its card first and switches `current` last; a run that fails or is killed at
//! any point before that rename leaves the previous version in use, and [`load_current`] keeps
//! returning it. Leftover `*.tmp` files are ignored by readers and overwritten by the next
//! save.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;

const CURRENT: &str = "current";
const MODEL_FILE: &str = "model.json";
const CARD_FILE: &str = "card.json";

/// Why a model could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot serialise the model or card for {path}: {source}")]
    Serialise {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path} is not a valid model file or card: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "model version {0:?} is not usable as a directory name (use letters, digits, '-', '_', \
         '.', not starting with '.')"
    )]
    BadVersion(String),
    #[error("{path} names version {version:?}, but its card says {card_version:?}")]
    VersionMismatch {
        path: PathBuf,
        version: String,
        card_version: String,
    },
}

/// What a model is, what it was trained on and how it did on held-out data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// E.g. `"holt_winters"` or `"burn_classifier"`.
    pub kind: String,
    /// Unique per saved model; also its directory name.
    pub version: String,
    /// First and last training time, RFC 3339.
    pub training_start: String,
    pub training_end: String,
    pub features: Vec<String>,
    /// Figures on the held-out period, e.g. `"recall_6h"`, `"mase_seasonal_naive"`.
    pub metrics: BTreeMap<String, f64>,
    /// RFC 3339.
    pub created_at: String,
}

impl ModelCard {
    /// A card stamped with the current UTC time; the training range is in unix seconds.
    pub fn new(kind: &str, version: &str, training_range: (i64, i64), features: &[&str]) -> Self {
        let rfc3339 = |secs: i64| {
            chrono::DateTime::from_timestamp(secs, 0)
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| secs.to_string())
        };
        Self {
            kind: kind.to_owned(),
            version: version.to_owned(),
            training_start: rfc3339(training_range.0),
            training_end: rfc3339(training_range.1),
            features: features.iter().map(|f| (*f).to_owned()).collect(),
            metrics: BTreeMap::new(),
            created_at: chrono::Utc::now().to_rfc3339(),
        }
    }
}

/// A model read back with its card.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedModel<M> {
    pub card: ModelCard,
    pub model: M,
}

/// Saves `model` and `card` as version `card.version` under `dir` and makes it current.
/// Returns the version directory.
pub fn save<M: Serialize>(dir: &Path, card: &ModelCard, model: &M) -> Result<PathBuf, CardError> {
    check_version(&card.version)?;
    let version_dir = dir.join(&card.version);
    fs::create_dir_all(&version_dir).map_err(|source| CardError::Write {
        path: version_dir.clone(),
        source,
    })?;

    let model_path = version_dir.join(MODEL_FILE);
    write_atomic(&model_path, &to_json(&model_path, model)?)?;
    let card_path = version_dir.join(CARD_FILE);
    write_atomic(&card_path, &to_json(&card_path, card)?)?;

    let mut pointer = card.version.clone().into_bytes();
    pointer.push(b'\n');
    write_atomic(&dir.join(CURRENT), &pointer)?;
    Ok(version_dir)
}

/// The current model under `dir`, or `None` when nothing was ever saved there.
pub fn load_current<M: DeserializeOwned>(dir: &Path) -> Result<Option<LoadedModel<M>>, CardError> {
    let pointer = dir.join(CURRENT);
    let version = match fs::read_to_string(&pointer) {
        Ok(text) => text.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CardError::Read {
                path: pointer,
                source,
            });
        }
    };
    check_version(&version)?;
    let version_dir = dir.join(&version);
    let card: ModelCard = read_json(&version_dir.join(CARD_FILE))?;
    if card.version != version {
        return Err(CardError::VersionMismatch {
            path: pointer,
            version,
            card_version: card.version,
        });
    }
    let model: M = read_json(&version_dir.join(MODEL_FILE))?;
    Ok(Some(LoadedModel { card, model }))
}

fn check_version(version: &str) -> Result<(), CardError> {
    let ok = !version.is_empty()
        && !version.starts_with('.')
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(CardError::BadVersion(version.to_owned()))
    }
}

fn to_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<Vec<u8>, CardError> {
    serde_json::to_vec_pretty(value).map_err(|source| CardError::Serialise {
        path: path.to_path_buf(),
        source,
    })
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, CardError> {
    let bytes = fs::read(path).map_err(|source| CardError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| CardError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `bytes` to `path.tmp`, syncs it, renames it over `path` and syncs the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CardError> {
    let tmp = tmp_path(path);
    let write_err = |source| CardError::Write {
        path: tmp.clone(),
        source,
    };
    let mut file = File::create(&tmp).map_err(write_err)?;
    file.write_all(bytes).map_err(write_err)?;
    file.sync_all().map_err(write_err)?;
    drop(file);
    fs::rename(&tmp, path).map_err(|source| CardError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    if let Some(parent) = path.parent() {
        // Makes the rename itself durable; opening a directory for sync works on Unix.
        if let Ok(dir) = File::open(parent) {
            dir.sync_all().map_err(|source| CardError::Write {
                path: parent.to_path_buf(),
                source,
            })?;
        }
    }
    Ok(())
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Toy {
        weights: Vec<f64>,
    }

    /// A model whose serialisation fails half-way, like a run that dies while writing.
    #[derive(Debug)]
    struct Exploding;

    impl Serialize for Exploding {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom(
                "disk full while writing the model",
            ))
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("predict-card-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn card(version: &str) -> ModelCard {
        let mut card = ModelCard::new("toy", version, (0, 86_400), &["a", "b"]);
        card.metrics.insert("recall_6h".into(), 0.5);
        card
    }

    #[test]
    fn saved_model_is_loaded_back_with_its_card() {
        let dir = scratch("roundtrip");
        let toy = Toy {
            weights: vec![1.0, -2.5],
        };
        save(&dir, &card("v1"), &toy).expect("saves");
        let loaded: LoadedModel<Toy> = load_current(&dir).expect("reads").expect("present");
        assert_eq!(loaded.model, toy);
        assert_eq!(loaded.card.version, "v1");
        assert_eq!(loaded.card.training_end, "1970-01-02T00:00:00+00:00");
        assert_eq!(loaded.card.metrics["recall_6h"], 0.5);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn empty_directory_has_no_current_model() {
        let dir = scratch("empty");
        assert_eq!(load_current::<Toy>(&dir).expect("no error"), None);
    }

    #[test]
    fn failing_model_write_keeps_the_previous_model_current() {
        let dir = scratch("failing");
        let old = Toy { weights: vec![1.0] };
        save(&dir, &card("v1"), &old).expect("saves");

        let err = save(&dir, &card("v2"), &Exploding).unwrap_err();
        assert!(matches!(err, CardError::Serialise { .. }), "{err}");

        let loaded: LoadedModel<Toy> = load_current(&dir).expect("reads").expect("present");
        assert_eq!(loaded.card.version, "v1");
        assert_eq!(loaded.model, old);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn interrupted_pointer_switch_keeps_the_previous_model_current() {
        let dir = scratch("interrupted");
        let old = Toy { weights: vec![1.0] };
        save(&dir, &card("v1"), &old).expect("saves");

        // Simulate a run killed after writing v2's files and the temporary pointer, before
        // the rename: v2 exists on disk, `current.tmp` names it, `current` still names v1.
        let v2 = dir.join("v2");
        fs::create_dir_all(&v2).expect("mkdir");
        fs::write(v2.join(MODEL_FILE), b"{\"weights\": [9.0]").expect("half-written model");
        fs::write(dir.join("current.tmp"), b"v2\n").expect("tmp pointer");

        let loaded: LoadedModel<Toy> = load_current(&dir).expect("reads").expect("present");
        assert_eq!(loaded.card.version, "v1");
        assert_eq!(loaded.model, old);

        // The next complete save replaces the leftovers.
        let new = Toy { weights: vec![3.0] };
        save(&dir, &card("v2"), &new).expect("saves over leftovers");
        let loaded: LoadedModel<Toy> = load_current(&dir).expect("reads").expect("present");
        assert_eq!(loaded.model, new);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn trained_burn_classifier_round_trips_through_a_card() {
        use crate::predict::classify::tests::{DAY, row, synthetic};
        use crate::predict::classify::{BurnClassifier, FEATURE_NAMES, TrainConfig};

        let dir = scratch("classifier");
        let (rows, pages) = synthetic(10, DAY + 600, DAY);
        let clf = BurnClassifier::train(&rows, &pages, 10 * DAY, &TrainConfig::default())
            .expect("trains");
        let card = ModelCard::new("burn_classifier", "bc-1", (0, 10 * DAY), &FEATURE_NAMES);
        save(&dir, &card, &clf).expect("saves");

        let loaded: LoadedModel<BurnClassifier> =
            load_current(&dir).expect("reads").expect("present");
        let probe = row(0, 4.0, 2.0);
        assert_eq!(loaded.model.predict(&probe), clf.predict(&probe));
        assert_eq!(loaded.card.features.len(), FEATURE_NAMES.len());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn version_with_a_path_separator_is_rejected() {
        let dir = scratch("badversion");
        let err = save(&dir, &card("../evil"), &Toy { weights: vec![] }).unwrap_err();
        assert!(matches!(err, CardError::BadVersion(_)));
    }
}
