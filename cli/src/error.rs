//! What a command can fail with, and the exit code and one-line message each failure gets.

use std::fmt;

use serde_json::{json, Value};

/// Exit code of a successful command.
pub const EXIT_OK: u8 = 0;
/// Exit code when the call returned an RPC error, or when a manifest drift was found.
pub const EXIT_FAILED: u8 = 1;
/// Exit code of a usage error or a transport failure (Redis unreachable, call timeout, …).
pub const EXIT_USAGE_OR_TRANSPORT: u8 = 2;

/// Why a command failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The arguments make no sense (bad JSON params, bad method name, missing prefix).
    Usage,
    /// Redis or the bus could not carry the work (connection refused, call timeout, no server).
    Transport,
    /// The remote side answered with a JSON-RPC error, or a check found a difference.
    Failed,
}

/// A failure with what failed, why, and what to try: printed as one line on stderr.
/// (Boxed, so results stay small.)
#[derive(Debug, Clone)]
pub struct CliError(Box<Details>);

/// The content of a [`CliError`].
#[derive(Debug, Clone)]
pub struct Details {
    /// Decides the exit code.
    pub kind: Kind,
    /// What failed and why.
    pub message: String,
    /// What to try, if there is something useful to say.
    pub hint: Option<String>,
    /// Machine-readable detail printed with `--json` (e.g. an RPC error object).
    pub json: Option<Value>,
}

impl CliError {
    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    /// A transport failure (exit 2).
    pub fn transport(message: impl Into<String>) -> Self {
        Self::new(Kind::Transport, message)
    }

    /// A failed call or check (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(Kind::Failed, message)
    }

    fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self(Box::new(Details {
            kind,
            message: message.into(),
            hint: None,
            json: None,
        }))
    }

    /// What failed, why, what to try.
    pub fn details(&self) -> &Details {
        &self.0
    }

    /// Adds what the user could try.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.0.hint = Some(hint.into());
        self
    }

    /// Sets the JSON document printed on stdout with `--json`.
    #[must_use]
    pub fn with_json(mut self, json: Value) -> Self {
        self.0.json = Some(json);
        self
    }

    /// Marks the `--json` output as already printed by the command (no second document).
    #[must_use]
    pub fn already_printed(mut self) -> Self {
        self.0.json = Some(Value::Null);
        self
    }

    /// A Redis failure while doing `what`.
    pub fn redis(what: &str, e: &redis::RedisError) -> Self {
        let hint = if e.is_connection_refusal() || e.is_io_error() || e.is_timeout() {
            "is Redis running there? pass --redis-url or set REDIS_URL"
        } else {
            "check the Redis version (7+) and the key prefix"
        };
        Self::transport(format!("{what}: {e}")).hint(hint)
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self.0.kind {
            Kind::Failed => EXIT_FAILED,
            Kind::Usage | Kind::Transport => EXIT_USAGE_OR_TRANSPORT,
        }
    }

    /// The document printed on stdout with `--json` (`Null`: the command printed its own).
    pub fn to_json(&self) -> Value {
        if let Some(v) = &self.0.json {
            return v.clone();
        }
        let kind = match self.0.kind {
            Kind::Usage => "usage",
            Kind::Transport => "transport",
            Kind::Failed => "failed",
        };
        json!({"error": {"kind": kind, "message": self.0.message, "hint": self.0.hint}})
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "clamator: {}", self.0.message)?;
        if let Some(hint) = &self.0.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

/// Result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;
