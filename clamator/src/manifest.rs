//! The schema-hash manifest in clamator's codegen format (spec §8.4), so CI can detect drift
//! between a Rust service and its TypeScript/Python contract.
//!
//! ```text
//! {
//!   "generatedBy": "...",
//!   "contracts": {
//!     "<service>": { "<method>": { "paramsHash": "<hex>", "resultHash": "<hex>" | null } }
//!   }
//! }
//! ```
//!
//! Serialized as `JSON.stringify(manifest, null, 2) + "\n"`, services and methods sorted like
//! JavaScript's `localeCompare` (see [`locale_cmp`]). Entries come from each contract's
//! generated `manifest_entries()`:
//!
//! ```
//! # use clamator::JsonSchema;
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize, JsonSchema)] #[schemars(crate = "clamator::schemars")]
//! # pub struct Ping { tag: Option<String> }
//! #[clamator::service(name = "notifications")]
//! pub trait Notifications {
//!     #[clamator(notification)]
//!     async fn ping(&self, params: Ping);
//! }
//!
//! let manifest = clamator::Manifest::new().with_contract::<NotificationsContract>()?;
//! assert!(manifest.to_json_string().contains("\"resultHash\": null"));
//! # Ok::<(), clamator::manifest::ManifestError>(())
//! ```

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde_json::{Map, Value};

use crate::names::{is_valid_method, is_valid_service};
use crate::schema::{schema_hash, SchemaError};
use crate::{Method, NotificationMethod, ServiceContract};

/// The `generatedBy` this crate writes unless told otherwise.
pub const GENERATED_BY: &str = concat!("clamator-rs v", env!("CARGO_PKG_VERSION"));

/// One method's hashes: what the manifest records per `<service>.<method>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// Service name.
    pub service: &'static str,
    /// Method wire name.
    pub method: &'static str,
    /// Hash of the params schema.
    pub params_hash: String,
    /// Hash of the result schema; `None` for notifications.
    pub result_hash: Option<String>,
}

impl ManifestEntry {
    /// Hashes a request/response method's params and result types.
    pub fn for_method<P: JsonSchema, R: JsonSchema>(
        method: Method<P, R>,
    ) -> Result<Self, SchemaError> {
        Ok(Self {
            service: method.service(),
            method: method.name(),
            params_hash: schema_hash::<P>()?,
            result_hash: Some(schema_hash::<R>()?),
        })
    }

    /// Hashes a notification's params type (`resultHash` is null).
    pub fn for_notification<P: JsonSchema>(
        method: NotificationMethod<P>,
    ) -> Result<Self, SchemaError> {
        Ok(Self {
            service: method.service(),
            method: method.name(),
            params_hash: schema_hash::<P>()?,
            result_hash: None,
        })
    }
}

/// Why a manifest could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestError {
    /// A params or result type is outside the supported schema subset.
    Schema(SchemaError),
    /// The same `<service>.<method>` was added twice.
    Duplicate(String),
    /// A name that no clamator peer accepts (and that [`locale_cmp`] does not order exactly).
    InvalidName(String),
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Schema(e) => e.fmt(f),
            Self::Duplicate(m) => write!(f, "method {m} added to the manifest twice"),
            Self::InvalidName(m) => write!(f, "invalid service or method name {m}"),
        }
    }
}

impl std::error::Error for ManifestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Schema(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SchemaError> for ManifestError {
    fn from(e: SchemaError) -> Self {
        Self::Schema(e)
    }
}

/// A manifest being assembled from one or more contracts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    generated_by: String,
    /// service → method → entry (order is applied when rendering).
    contracts: BTreeMap<&'static str, BTreeMap<&'static str, ManifestEntry>>,
}

impl Default for Manifest {
    fn default() -> Self {
        Self::new()
    }
}

impl Manifest {
    /// An empty manifest, `generatedBy` = [`GENERATED_BY`].
    pub fn new() -> Self {
        Self {
            generated_by: GENERATED_BY.to_owned(),
            contracts: BTreeMap::new(),
        }
    }

    /// Sets `generatedBy`, e.g. to compare a file byte-for-byte with one from the TS codegen.
    #[must_use]
    pub fn generated_by(mut self, generated_by: impl Into<String>) -> Self {
        self.generated_by = generated_by.into();
        self
    }

    /// Adds every method of a `#[clamator::service]` contract.
    pub fn with_contract<C: ServiceContract>(self) -> Result<Self, ManifestError> {
        self.with_entries(C::manifest_entries()?)
    }

    /// Adds entries (e.g. from a hand-built contract via [`ManifestEntry::for_method`]).
    pub fn with_entries(
        mut self,
        entries: impl IntoIterator<Item = ManifestEntry>,
    ) -> Result<Self, ManifestError> {
        for entry in entries {
            let full = format!("{}.{}", entry.service, entry.method);
            if !is_valid_service(entry.service) || !is_valid_method(entry.method) {
                return Err(ManifestError::InvalidName(full));
            }
            let methods = self.contracts.entry(entry.service).or_default();
            if methods.contains_key(entry.method) {
                return Err(ManifestError::Duplicate(full));
            }
            methods.insert(entry.method, entry);
        }
        Ok(self)
    }

    /// The manifest as JSON, keys in the codegen's order.
    pub fn to_json(&self) -> Value {
        let mut services: Vec<_> = self.contracts.iter().collect();
        services.sort_by(|a, b| locale_cmp(a.0, b.0));
        let mut contracts = Map::new();
        for (service, methods) in services {
            let mut methods: Vec<_> = methods.values().collect();
            methods.sort_by(|a, b| locale_cmp(a.method, b.method));
            let mut rendered = Map::new();
            for m in methods {
                let mut hashes = Map::new();
                hashes.insert("paramsHash".to_owned(), Value::from(m.params_hash.as_str()));
                hashes.insert(
                    "resultHash".to_owned(),
                    m.result_hash.as_deref().map_or(Value::Null, Value::from),
                );
                rendered.insert(m.method.to_owned(), Value::Object(hashes));
            }
            contracts.insert((*service).to_owned(), Value::Object(rendered));
        }
        let mut root = Map::new();
        root.insert(
            "generatedBy".to_owned(),
            Value::from(self.generated_by.as_str()),
        );
        root.insert("contracts".to_owned(), Value::Object(contracts));
        Value::Object(root)
    }

    /// The file text: `JSON.stringify(manifest, null, 2) + "\n"`.
    pub fn to_json_string(&self) -> String {
        let mut text =
            serde_json::to_string_pretty(&self.to_json()).expect("a JSON value always serializes");
        text.push('\n');
        text
    }
}

/// JavaScript's `a.localeCompare(b)` (ICU root collation) for clamator names, i.e. ASCII
/// letters, digits and `-`: first case-insensitively (`-` < digits < letters, shorter prefix
/// first), then lowercase before uppercase at the first difference. `["add", "divide",
/// "echoText", "slowAdd"]` and `["ab", "aB", "Ab"]` are in this order.
pub fn locale_cmp(a: &str, b: &str) -> Ordering {
    let primary = a
        .bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()));
    primary.then_with(|| {
        // Same letters: ICU's tertiary level puts lowercase first.
        let case = |c: u8| u8::from(c.is_ascii_uppercase());
        a.bytes().map(case).cmp(b.bytes().map(case))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locale_order_matches_node() {
        // Expected order produced by node's Array.prototype.sort((a, b) => a.localeCompare(b)).
        let expected = [
            "a", "a-", "a-b", "a0b", "a1", "aa", "ab", "aB", "Ab", "add", "divide", "echoText",
            "slowAdd",
        ];
        let mut names = expected.to_vec();
        names.reverse();
        names.sort_by(|a, b| locale_cmp(a, b));
        assert_eq!(names, expected);
    }
}
