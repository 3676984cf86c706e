//! How bus outcomes become HTTP statuses: the clamator documentation's "Common gateway
//! integration" table, with the application-code and refusal-reason parts configurable.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use clamator::codes;
use serde_json::Value;

/// The status tables of a gateway. [`StatusMap::default`] is the clamator documentation's
/// mapping; change entries with the `with_*` methods.
///
/// * JSON-RPC errors: `-32700`, `-32600`, `-32601`, `-32602` are caller bugs → 400, `-32603` →
///   500 (fixed: they mean the same everywhere). Any other code is an application code, looked
///   up in [`codes`](Self::with_code); an unlisted one → [`unmapped_code`](Self::with_unmapped_code)
///   (500 by default: without a table entry the gateway cannot claim the caller was at fault).
/// * Result-union refusals (`{"ok": false, "reason": …}`, answered as a *result*): the reason is
///   looked up in [`reasons`](Self::with_reason); any other reason → 409, `ok: true` → 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMap {
    codes: BTreeMap<i64, StatusCode>,
    unmapped_code: StatusCode,
    reasons: BTreeMap<String, StatusCode>,
    other_reason: StatusCode,
}

impl Default for StatusMap {
    fn default() -> Self {
        let reasons = [
            ("not-found", StatusCode::NOT_FOUND),
            ("conflict", StatusCode::CONFLICT),
            ("already-running", StatusCode::CONFLICT),
            ("already-exists", StatusCode::CONFLICT),
            ("forbidden", StatusCode::FORBIDDEN),
            ("not-authorized", StatusCode::FORBIDDEN),
            ("validation-failed", StatusCode::UNPROCESSABLE_ENTITY),
            ("invalid-input", StatusCode::UNPROCESSABLE_ENTITY),
            ("not-launchable", StatusCode::PRECONDITION_FAILED),
            ("precondition-failed", StatusCode::PRECONDITION_FAILED),
        ]
        .into_iter()
        .map(|(r, s)| (r.to_owned(), s))
        .collect();
        Self {
            codes: BTreeMap::new(),
            unmapped_code: StatusCode::INTERNAL_SERVER_ERROR,
            reasons,
            other_reason: StatusCode::CONFLICT,
        }
    }
}

impl StatusMap {
    /// Maps an application error code (e.g. `-32000 division by zero` → 422). Reserved codes
    /// (`-32700..=-32600`) keep their fixed statuses whatever is set here.
    #[must_use]
    pub fn with_code(mut self, code: i64, status: StatusCode) -> Self {
        self.codes.insert(code, status);
        self
    }

    /// The status of application codes that have no entry (default 500).
    #[must_use]
    pub fn with_unmapped_code(mut self, status: StatusCode) -> Self {
        self.unmapped_code = status;
        self
    }

    /// Maps a refusal reason (adds one or replaces a default).
    #[must_use]
    pub fn with_reason(mut self, reason: impl Into<String>, status: StatusCode) -> Self {
        self.reasons.insert(reason.into(), status);
        self
    }

    /// The status of refusal reasons that have no entry (default 409).
    #[must_use]
    pub fn with_other_reason(mut self, status: StatusCode) -> Self {
        self.other_reason = status;
        self
    }

    /// The status of a JSON-RPC error code.
    pub fn for_code(&self, code: i64) -> StatusCode {
        match code {
            codes::PARSE_ERROR
            | codes::INVALID_REQUEST
            | codes::METHOD_NOT_FOUND
            | codes::INVALID_PARAMS => StatusCode::BAD_REQUEST,
            codes::INTERNAL_ERROR => StatusCode::INTERNAL_SERVER_ERROR,
            other => self
                .codes
                .get(&other)
                .copied()
                .unwrap_or(self.unmapped_code),
        }
    }

    /// The status of a refusal reason.
    pub fn for_reason(&self, reason: &str) -> StatusCode {
        self.reasons
            .get(reason)
            .copied()
            .unwrap_or(self.other_reason)
    }

    /// The status of a successful call's result: a refusal (`{"ok": false, …}`) by its reason
    /// (a missing or non-string reason counts as "other"), anything else 200.
    pub fn for_result(&self, result: &Value) -> StatusCode {
        match refusal_reason(result) {
            Some(reason) => self.for_reason(reason.unwrap_or("")),
            None => StatusCode::OK,
        }
    }

    /// The configured application codes, for the OpenAPI document.
    pub(crate) fn app_codes(&self) -> impl Iterator<Item = (i64, StatusCode)> + '_ {
        self.codes.iter().map(|(c, s)| (*c, *s))
    }

    /// The unmapped-code status, for the OpenAPI document.
    pub(crate) fn unmapped_code(&self) -> StatusCode {
        self.unmapped_code
    }

    /// The configured reasons, for the OpenAPI document.
    pub(crate) fn reasons(&self) -> impl Iterator<Item = (&str, StatusCode)> + '_ {
        self.reasons.iter().map(|(r, s)| (r.as_str(), *s))
    }

    /// The other-reason status, for the OpenAPI document.
    pub(crate) fn other_reason(&self) -> StatusCode {
        self.other_reason
    }
}

/// `Some(reason)` when `result` is a refusal (`{"ok": false, …}`); the inner `None` when its
/// `reason` is missing or not a string.
pub fn refusal_reason(result: &Value) -> Option<Option<&str>> {
    let obj = result.as_object()?;
    if obj.get("ok") != Some(&Value::Bool(false)) {
        return None;
    }
    Some(obj.get("reason").and_then(Value::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_follow_the_clamator_table() {
        let m = StatusMap::default();
        assert_eq!(m.for_code(-32601), StatusCode::BAD_REQUEST);
        assert_eq!(m.for_code(-32602), StatusCode::BAD_REQUEST);
        assert_eq!(m.for_code(-32603), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(m.for_code(-32000), StatusCode::INTERNAL_SERVER_ERROR);
        let m = m.with_code(-32000, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(m.for_code(-32000), StatusCode::UNPROCESSABLE_ENTITY);
        let m = m.with_code(-32601, StatusCode::IM_A_TEAPOT);
        assert_eq!(m.for_code(-32601), StatusCode::BAD_REQUEST);
        for (reason, status) in [
            ("not-found", 404),
            ("conflict", 409),
            ("already-running", 409),
            ("already-exists", 409),
            ("forbidden", 403),
            ("not-authorized", 403),
            ("validation-failed", 422),
            ("invalid-input", 422),
            ("not-launchable", 412),
            ("precondition-failed", 412),
            ("something-else", 409),
        ] {
            let r = json!({"ok": false, "reason": reason});
            assert_eq!(m.for_result(&r).as_u16(), status, "{reason}");
        }
        assert_eq!(m.for_result(&json!({"ok": true})), StatusCode::OK);
        assert_eq!(m.for_result(&json!({"ok": false})), StatusCode::CONFLICT);
        assert_eq!(m.for_result(&json!({"sum": 1})), StatusCode::OK);
        assert_eq!(m.for_result(&json!([false])), StatusCode::OK);
    }
}
