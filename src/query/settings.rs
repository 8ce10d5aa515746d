//! What Vigil says about itself to PostgreSQL clients: the version it speaks, the run-time
//! parameters clients read (`current_setting`, `SHOW`, the startup `ParameterStatus`
//! messages), and the PostgreSQL type names and OIDs of the types it returns.
//!
//! Vigil speaks the PostgreSQL 15 protocol and catalog subset; clients that branch on the
//! server version (Grafana, psql) take their PostgreSQL 15 paths.

use std::collections::BTreeMap;

/// The one database a Postgres client can connect to (any name is accepted and shown).
pub(crate) const DATABASE: &str = "vigil";
/// The schema Vigil's tables live in.
pub(crate) const SCHEMA: &str = "public";
/// The role name catalog functions report when no user name is known.
pub(crate) const USER_NAME: &str = "vigil";

pub(crate) const SERVER_VERSION: &str = "15.0";
pub(crate) const SERVER_VERSION_NUM: &str = "150000";

/// `version()`: PostgreSQL's shape first (clients parse it), then what really answers.
pub(crate) fn version_string() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} (Vigil {}, Apache DataFusion {}) on x86_64, 64-bit",
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION
    )
}

/// Run-time parameters and their values for a new session.
pub(crate) fn defaults() -> &'static BTreeMap<String, String> {
    static DEFAULTS: std::sync::LazyLock<BTreeMap<String, String>> =
        std::sync::LazyLock::new(|| {
            [
                ("server_version", SERVER_VERSION),
                ("server_version_num", SERVER_VERSION_NUM),
                ("server_encoding", "UTF8"),
                ("client_encoding", "UTF8"),
                ("datestyle", "ISO, MDY"),
                ("intervalstyle", "postgres"),
                ("timezone", "UTC"),
                ("search_path", "\"$user\", public"),
                ("standard_conforming_strings", "on"),
                ("integer_datetimes", "on"),
                ("default_transaction_read_only", "on"),
                ("transaction_read_only", "on"),
                ("transaction_isolation", "read committed"),
                ("default_transaction_isolation", "read committed"),
                ("is_superuser", "off"),
                ("application_name", ""),
                ("extra_float_digits", "1"),
                ("max_identifier_length", "63"),
                ("lc_collate", "C"),
                ("lc_ctype", "C"),
                ("statement_timeout", "0"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
        });
    &DEFAULTS
}

/// A parameter's default value; names are case-insensitive, as in PostgreSQL.
pub(crate) fn default_setting(name: &str) -> Option<&'static str> {
    defaults()
        .get(&name.to_ascii_lowercase())
        .map(String::as_str)
}

/// PostgreSQL type names (as `format_type` prints them) by type OID, for the types Vigil's
/// catalog lists.
pub(crate) const TYPES: &[(i64, &str, &str)] = &[
    // (oid, typname, format_type name)
    (16, "bool", "boolean"),
    (17, "bytea", "bytea"),
    (20, "int8", "bigint"),
    (21, "int2", "smallint"),
    (23, "int4", "integer"),
    (25, "text", "text"),
    (700, "float4", "real"),
    (701, "float8", "double precision"),
    (1082, "date", "date"),
    (1083, "time", "time without time zone"),
    (1114, "timestamp", "timestamp without time zone"),
    (1184, "timestamptz", "timestamp with time zone"),
    (1186, "interval", "interval"),
    (1700, "numeric", "numeric"),
    (114, "json", "json"),
    (1000, "_bool", "boolean[]"),
    (1005, "_int2", "smallint[]"),
    (1007, "_int4", "integer[]"),
    (1016, "_int8", "bigint[]"),
    (1009, "_text", "text[]"),
    (1021, "_float4", "real[]"),
    (1022, "_float8", "double precision[]"),
    (1231, "_numeric", "numeric[]"),
    (1185, "_timestamptz", "timestamp with time zone[]"),
];

pub(crate) fn type_name_for_oid(oid: i64) -> Option<&'static str> {
    TYPES.iter().find(|t| t.0 == oid).map(|t| t.2)
}
