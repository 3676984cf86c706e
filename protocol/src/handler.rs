//! Server-side handlers: a [`Service`] is a [`Contract`] plus one async function per method.
//!
//! ```
//! use clamator_protocol::{Contract, Method, RpcError, Service};
//! # #[derive(serde::Serialize, serde::Deserialize)] struct DivParams { a: f64, b: f64 }
//! # #[derive(serde::Serialize, serde::Deserialize)] struct DivResult { q: f64 }
//! const DIVIDE: Method<DivParams, DivResult> = Method::new("arith", "divide");
//!
//! let contract = Contract::builder("arith").method(DIVIDE).build()?;
//! let service = Service::builder(contract)
//!     .handle(DIVIDE, |p: DivParams| async move {
//!         if p.b == 0.0 {
//!             return Err(RpcError::new(-32000, "division by zero"));
//!         }
//!         Ok(DivResult { q: p.a / p.b })
//!     })
//!     .build()?;
//! # Ok::<(), clamator_protocol::Error>(())
//! ```

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use futures_util::future::{BoxFuture, FutureExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::contract::{Contract, Method, MethodKind, NotificationMethod};
use crate::error::{BoxError, Error, RpcError};
use crate::validation::{decode, decode_params, encode_result};

/// What a handler failed with. An [`RpcError`] goes to the caller as is; any other error becomes
/// `-32603 "Internal error"` with `{"name","message"}` data (the peers' `exceptionToErrorData`).
///
/// Everything that converts into `Box<dyn std::error::Error + Send + Sync>` converts into it
/// with `?` or `.into()`, so a handler can return `Result<T, E>` with:
/// * any `std::error::Error + Send + Sync + 'static` (its own error types, `std::io::Error`, …);
/// * `Box<dyn std::error::Error + Send + Sync>` itself;
/// * `anyhow::Error` (`anyhow::Result<T>`); with the `anyhow` feature its whole context chain
///   becomes the message (`{:#}`) and its root cause names it, without it only the outermost
///   context is kept;
/// * `String` / `&'static str`, for a quick message.
///
/// (A plain `From<E: std::error::Error>` could not also accept `anyhow::Error` or the box:
/// coherence forbids it, and users cannot add the impl themselves. Going through the box, which
/// all of them already convert into, accepts every one.)
///
/// An [`RpcError`] anywhere among these (directly, boxed, or as an `anyhow` error's value) is
/// the caller's answer unchanged.
///
/// `name` is the closest honest equivalent of Python's `type(exc).__name__`: the error's type
/// name when the handler's error type is concrete (`DiskError`; `io::Error` rather than the
/// uninformative `Error` for types every crate names `Error`), and for erased errors (the box,
/// `anyhow`) the type recovered by downcasting to common error types, else the name the
/// error's `Debug` output starts with (a derived `Debug` prints the type, or an enum's
/// variant), else `Error` (as the TypeScript peer names a plain `new Error(…)`).
pub struct HandlerError {
    name: String,
    message: String,
    source: BoxError,
}

impl HandlerError {
    /// An internal error with a chosen `name` and `message` (for failures that are not a type).
    pub fn internal(name: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            name: name.into(),
            source: message.clone().into(),
            message,
        }
    }

    /// The JSON-RPC error the caller receives.
    pub fn to_rpc_error(&self) -> RpcError {
        match self.source.downcast_ref::<RpcError>() {
            Some(rpc) => rpc.clone(),
            None => RpcError::internal(json!({
                "name": self.name,
                "message": self.message,
            })),
        }
    }

    /// True when the handler deliberately rejected the call with an [`RpcError`] (the peers do
    /// not log those).
    pub fn is_rpc_error(&self) -> bool {
        self.source.is::<RpcError>()
    }

    /// The `name` the caller receives in `data`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `message` the caller receives in `data`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// From an already erased error: the name comes from what the box holds.
    fn from_boxed(source: BoxError) -> Self {
        Self {
            name: erased_name(&*source),
            message: source.to_string(),
            source,
        }
    }

    #[cfg(feature = "anyhow")]
    fn from_anyhow(error: anyhow::Error) -> Self {
        let error = match error.downcast::<RpcError>() {
            Ok(rpc) => return Self::from_boxed(Box::new(rpc)),
            Err(error) => error,
        };
        // `{:#}` is anyhow's "context: cause: root cause" chain; its plain `Display` is only the
        // outermost context, which hides why the handler failed.
        let message = format!("{error:#}");
        let name = erased_name(error.root_cause());
        Self {
            name,
            message,
            source: error.into(),
        }
    }
}

impl<E: Into<BoxError> + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        #[cfg(feature = "anyhow")]
        {
            let mut slot = Some(error);
            let any: &mut dyn Any = &mut slot;
            if let Some(anyhow) = any
                .downcast_mut::<Option<anyhow::Error>>()
                .and_then(Option::take)
            {
                return Self::from_anyhow(anyhow);
            }
            match slot {
                Some(error) => Self::from_typed(error),
                None => Self::internal("Error", "handler failed"),
            }
        }
        #[cfg(not(feature = "anyhow"))]
        Self::from_typed(error)
    }
}

impl HandlerError {
    fn from_typed<E: Into<BoxError> + 'static>(error: E) -> Self {
        let erased = is_erased::<E>();
        let source: BoxError = error.into();
        if std::any::type_name::<E>() == "anyhow::Error" {
            // Without the `anyhow` feature the box hides anyhow's value from downcasts.
            return Self {
                name: "Error".to_owned(),
                message: source.to_string(),
                source,
            };
        }
        if erased {
            return Self::from_boxed(source);
        }
        Self {
            name: static_name(std::any::type_name::<E>()),
            message: source.to_string(),
            source,
        }
    }
}

/// True for the error types whose static type says nothing about the failure: the box itself
/// and message strings.
fn is_erased<E: 'static>() -> bool {
    use std::any::TypeId;
    let id = TypeId::of::<E>();
    id == TypeId::of::<BoxError>()
        || id == TypeId::of::<String>()
        || id == TypeId::of::<&'static str>()
        || id == TypeId::of::<std::borrow::Cow<'static, str>>()
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:?}", self.name, self.source)
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

/// The short name of a type, as Python's `type(exc).__name__` would give it:
/// `my_crate::DbError<T>` → `DbError`. A type named just `Error` (the convention of
/// `std::io`, `serde_json`, `reqwest`, …) keeps the module users write before it, skipping the
/// private `error` module such types are defined in: `std::io::error::Error` → `io::Error`,
/// `serde_json::error::Error` → `serde_json::Error`.
fn static_name(full: &str) -> String {
    let base = full.split('<').next().unwrap_or(full);
    let mut segments = base.rsplit("::");
    let last = segments.next().unwrap_or(base);
    if last != "Error" {
        return last.to_owned();
    }
    match segments.find(|s| *s != "error") {
        Some(module) => format!("{module}::Error"),
        None => last.to_owned(),
    }
}

/// The name of an error known only as `dyn Error`: a downcast to the common error types first,
/// else the leading identifier of its `Debug` output (a derived `Debug` starts with the type, or
/// an enum's variant), else `Error`.
fn erased_name(error: &(dyn std::error::Error + 'static)) -> String {
    macro_rules! known {
        ($($ty:ty),* $(,)?) => {
            $(if error.is::<$ty>() {
                return static_name(std::any::type_name::<$ty>());
            })*
        };
    }
    known!(
        std::io::Error,
        std::fmt::Error,
        serde_json::Error,
        std::num::ParseIntError,
        std::num::ParseFloatError,
        std::num::TryFromIntError,
        std::str::ParseBoolError,
        std::str::Utf8Error,
        std::string::FromUtf8Error,
        std::net::AddrParseError,
        tokio::time::error::Elapsed,
        RpcError,
    );
    debug_type_name(error).unwrap_or_else(|| "Error".to_owned())
}

/// `DiskError`, `Timeout { after: 3 }`, `Parse("x")` → the identifier; a quoted string (the
/// `Debug` of a boxed `String` message), a sentence or anything else → `None`.
fn debug_type_name(error: &dyn std::error::Error) -> Option<String> {
    let debug = format!("{error:?}");
    let end = debug
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(debug.len());
    let ident = &debug[..end];
    let rest = &debug[end..];
    let starts_upper = ident.chars().next().is_some_and(|c| c.is_ascii_uppercase());
    // Not a sentence ("Failed to connect"): a derived `Debug` is `Name`, `Name(…)` or `Name {…}`.
    let ends_well = rest.is_empty() || rest.starts_with('(') || rest.starts_with(" {");
    (starts_upper && ends_well).then(|| ident.to_owned())
}

/// What one handler invocation produced, before the dispatcher turns it into a response.
#[derive(Debug)]
pub(crate) enum HandlerOutcome {
    InvalidParams(Value),
    Success(Value),
    Failed(RpcError, Option<String>),
    ResultInvalid(Value),
}

pub(crate) type ErasedHandler =
    Arc<dyn Fn(&Value) -> BoxFuture<'static, HandlerOutcome> + Send + Sync>;

/// A contract with its handlers, ready to register on a server.
#[derive(Clone)]
pub struct Service {
    pub(crate) contract: Contract,
    pub(crate) handlers: Arc<HashMap<&'static str, ErasedHandler>>,
    /// method → (params hash, result hash): the manifest's hashes, published with presence.
    schema_hashes: Arc<HashMap<String, (String, Option<String>)>>,
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("service", &self.contract.service())
            .field("handlers", &self.handlers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Service {
    /// Starts attaching handlers to `contract`'s methods.
    pub fn builder(contract: Contract) -> ServiceBuilder {
        ServiceBuilder {
            contract,
            handlers: HashMap::new(),
            errors: Vec::new(),
        }
    }

    /// The contract this service implements.
    pub fn contract(&self) -> &Contract {
        &self.contract
    }

    /// The service name.
    pub fn name(&self) -> &'static str {
        self.contract.service()
    }

    /// Attaches the manifest's schema hashes (method, params hash, result hash), so a server
    /// can publish them with its presence and drift between instances shows in `discover()`.
    /// `#[clamator::service]` attaches them itself; hashes of methods the contract lacks are
    /// ignored.
    #[must_use]
    pub fn with_schema_hashes<M: AsRef<str>>(
        mut self,
        hashes: impl IntoIterator<Item = (M, String, Option<String>)>,
    ) -> Self {
        let map = hashes
            .into_iter()
            .filter(|(m, _, _)| self.contract.method(m.as_ref()).is_some())
            .map(|(m, p, r)| (m.as_ref().to_owned(), (p, r)))
            .collect();
        self.schema_hashes = Arc::new(map);
        self
    }

    /// The (params, result) schema hashes of a method, when the service carries them.
    pub fn schema_hashes(&self, method: &str) -> Option<(&str, Option<&str>)> {
        self.schema_hashes
            .get(method)
            .map(|(p, r)| (p.as_str(), r.as_deref()))
    }
}

/// Collects handlers; [`build`](Self::build) reports handlers for methods the contract lacks.
#[must_use]
pub struct ServiceBuilder {
    contract: Contract,
    handlers: HashMap<&'static str, ErasedHandler>,
    errors: Vec<String>,
}

impl ServiceBuilder {
    /// Handles a request/response method. The handler gets deserialized params and returns the
    /// result or any error convertible into [`HandlerError`]. A panic, in the closure body or
    /// in its future, is answered `-32603` with `{"name":"panic","message":…}` data.
    pub fn handle<P, R, E, F, Fut>(mut self, method: Method<P, R>, handler: F) -> Self
    where
        P: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        E: Into<HandlerError> + Send + 'static,
        F: Fn(P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        self.check(method.service(), method.name(), MethodKind::Request);
        let erased = erase(handler, finish_typed::<R, E>);
        self.handlers.insert(method.name(), erased);
        self
    }

    /// Handles a method whose handler builds its result as JSON (a gateway relaying another
    /// service, a handler driven by data). The JSON is validated against `R` the way the Python
    /// peer validates a handler's dict against its result model: a mismatch is
    /// `-32603 "Result validation failed"` with the path of the bad field.
    pub fn handle_json<P, R, E, F, Fut>(mut self, method: Method<P, R>, handler: F) -> Self
    where
        P: DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        E: Into<HandlerError> + Send + 'static,
        F: Fn(P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, E>> + Send + 'static,
    {
        self.check(method.service(), method.name(), MethodKind::Request);
        let erased = erase(handler, finish_json::<R, E>);
        self.handlers.insert(method.name(), erased);
        self
    }

    /// Handles a notification. The handler may return `()` or `Result<(), E>`; failures
    /// (panics included) are logged, never answered.
    pub fn on_notification<P, O, F, Fut>(
        mut self,
        method: NotificationMethod<P>,
        handler: F,
    ) -> Self
    where
        P: DeserializeOwned + Send + 'static,
        O: NotificationOutput,
        F: Fn(P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = O> + Send + 'static,
    {
        self.check(method.service(), method.name(), MethodKind::Notification);
        let erased = erase(handler, finish_notification::<O>);
        self.handlers.insert(method.name(), erased);
        self
    }

    fn check(&mut self, service: &str, name: &str, kind: MethodKind) {
        match self.contract.method(name) {
            _ if service != self.contract.service() => self.errors.push(format!(
                "handler for \"{service}.{name}\" registered on service \"{}\"",
                self.contract.service()
            )),
            Some(def) if def.kind() == kind => {}
            Some(def) => self.errors.push(format!(
                "\"{service}.{name}\" is declared as a {:?} in the contract",
                def.kind()
            )),
            None => self
                .errors
                .push(format!("\"{service}.{name}\" is not in the contract")),
        }
    }

    /// Freezes the service. Methods without a handler answer -32601 (after params validation,
    /// as the peers do).
    pub fn build(self) -> Result<Service, Error> {
        if !self.errors.is_empty() {
            return Err(Error::Registration(self.errors.join("; ")));
        }
        Ok(Service {
            contract: self.contract,
            handlers: Arc::new(self.handlers),
            schema_hashes: Arc::new(HashMap::new()),
        })
    }
}

/// What a notification handler may return: `()` or `Result<(), E>`.
pub trait NotificationOutput: Send + 'static {
    /// Normalises the handler's output.
    fn into_result(self) -> Result<(), HandlerError>;
}

impl NotificationOutput for () {
    fn into_result(self) -> Result<(), HandlerError> {
        Ok(())
    }
}

impl<E: Into<HandlerError> + Send + 'static> NotificationOutput for Result<(), E> {
    fn into_result(self) -> Result<(), HandlerError> {
        self.map_err(Into::into)
    }
}

/// Type-erases a handler: params are decoded into `P` (or answered -32602), the handler runs
/// under panic protection, and `finish` turns its output into an outcome.
///
/// A panic is caught wherever it happens: in the closure body before it returns its future
/// (which would otherwise unwind through the dispatcher and kill the transport's task, so the
/// caller only ever saw a timeout), inside the future, or in `finish` (a `Serialize` impl).
fn erase<P, F, Fut>(handler: F, finish: fn(Fut::Output) -> HandlerOutcome) -> ErasedHandler
where
    P: DeserializeOwned + Send + 'static,
    F: Fn(P) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
{
    Arc::new(move |params: &Value| {
        let started = catch_unwind(AssertUnwindSafe(|| {
            decode_params::<P>(params).map(&handler)
        }));
        let fut = match started {
            Ok(Ok(fut)) => fut,
            Ok(Err(data)) => return ready(HandlerOutcome::InvalidParams(data)),
            Err(payload) => return ready(panicked(payload)),
        };
        AssertUnwindSafe(async move { finish(fut.await) })
            .catch_unwind()
            .map(|outcome| outcome.unwrap_or_else(panicked))
            .boxed()
    })
}

fn finish_typed<R: Serialize, E: Into<HandlerError>>(output: Result<R, E>) -> HandlerOutcome {
    match output {
        Ok(result) => match encode_result(&result) {
            Ok(value) => HandlerOutcome::Success(value),
            Err(data) => HandlerOutcome::ResultInvalid(data),
        },
        Err(err) => failed(err.into()),
    }
}

fn finish_json<R, E>(output: Result<Value, E>) -> HandlerOutcome
where
    R: Serialize + DeserializeOwned,
    E: Into<HandlerError>,
{
    match output.map(|json| decode::<R>(&json)) {
        Ok(Ok(result)) => finish_typed::<R, E>(Ok(result)),
        Ok(Err(data)) => HandlerOutcome::ResultInvalid(data),
        Err(err) => failed(err.into()),
    }
}

fn finish_notification<O: NotificationOutput>(output: O) -> HandlerOutcome {
    match output.into_result() {
        Ok(()) => HandlerOutcome::Success(Value::Null),
        Err(err) => failed(err),
    }
}

fn ready(outcome: HandlerOutcome) -> BoxFuture<'static, HandlerOutcome> {
    futures_util::future::ready(outcome).boxed()
}

fn failed(err: HandlerError) -> HandlerOutcome {
    let logged = (!err.is_rpc_error()).then(|| err.to_string());
    HandlerOutcome::Failed(err.to_rpc_error(), logged)
}

/// The outcome of a handler that panicked: -32603 with `{"name":"panic","message":…}` data,
/// logged by the dispatcher, instead of a lost call.
fn panicked(payload: Box<dyn Any + Send>) -> HandlerOutcome {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "handler panicked".to_owned());
    let rpc = RpcError::internal(json!({ "name": "panic", "message": message }));
    HandlerOutcome::Failed(rpc, Some(format!("panic: {message}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("disk on fire")]
    struct DiskError;

    #[test]
    fn non_rpc_errors_become_internal_with_name_and_message() {
        let err: HandlerError = DiskError.into();
        assert_eq!(
            err.to_rpc_error(),
            RpcError::internal(json!({"name":"DiskError","message":"disk on fire"}))
        );
        let io: HandlerError = std::io::Error::other("boom").into();
        assert_eq!(
            io.to_rpc_error().data,
            json!({"name":"io::Error","message":"boom"})
        );
    }

    #[test]
    fn rpc_errors_pass_through() {
        let err: HandlerError = RpcError::new(-32000, "division by zero").into();
        assert!(err.is_rpc_error());
        assert_eq!(
            err.to_rpc_error(),
            RpcError::new(-32000, "division by zero")
        );
    }

    #[test]
    fn type_names_are_short_and_say_something() {
        assert_eq!(
            static_name(std::any::type_name::<std::io::Error>()),
            "io::Error"
        );
        assert_eq!(
            static_name(std::any::type_name::<serde_json::Error>()),
            "serde_json::Error"
        );
        assert_eq!(static_name(std::any::type_name::<DiskError>()), "DiskError");
        assert_eq!(static_name(std::any::type_name::<Vec<String>>()), "Vec");
        assert_eq!(static_name("Error"), "Error");
    }

    #[derive(Debug, thiserror::Error)]
    enum DbError {
        #[error("row {0} not found")]
        NotFound(u32),
    }

    #[test]
    fn boxed_errors_are_named_by_what_the_box_holds() {
        let boxed: BoxError = Box::new(DiskError);
        let err: HandlerError = boxed.into();
        assert_eq!(
            err.to_rpc_error().data,
            json!({"name":"DiskError","message":"disk on fire"})
        );
        let boxed: BoxError = Box::new(std::io::Error::other("boom"));
        let err: HandlerError = boxed.into();
        assert_eq!(
            err.to_rpc_error().data,
            json!({"name":"io::Error","message":"boom"})
        );
        let boxed: BoxError = Box::new(DbError::NotFound(7));
        let err: HandlerError = boxed.into();
        assert_eq!(
            err.to_rpc_error().data,
            json!({"name":"NotFound","message":"row 7 not found"})
        );
        let boxed: BoxError = "plain message".into();
        let err: HandlerError = boxed.into();
        assert_eq!(
            err.to_rpc_error().data,
            json!({"name":"Error","message":"plain message"})
        );
        let err: HandlerError = String::from("Failed to connect").into();
        assert_eq!(err.name(), "Error", "a message is not a type name");
    }

    #[test]
    fn a_boxed_rpc_error_passes_through() {
        let boxed: BoxError = Box::new(RpcError::new(-32001, "quota").with_data(json!(3)));
        let err: HandlerError = boxed.into();
        assert!(err.is_rpc_error());
        assert_eq!(
            err.to_rpc_error(),
            RpcError::new(-32001, "quota").with_data(json!(3))
        );
    }

    #[test]
    fn anyhow_errors_convert() {
        use anyhow::Context;
        let failed: anyhow::Result<()> =
            Err(std::io::Error::other("disk gone")).context("saving the order");
        let err: HandlerError = failed.unwrap_err().into();
        let data = err.to_rpc_error().data;
        if cfg!(feature = "anyhow") {
            // The whole chain, named by the root cause.
            assert_eq!(
                data,
                json!({"name":"io::Error","message":"saving the order: disk gone"})
            );
        } else {
            assert_eq!(data, json!({"name":"Error","message":"saving the order"}));
        }
        let rejected: anyhow::Error = RpcError::new(-32000, "division by zero").into();
        let err: HandlerError = rejected.into();
        assert_eq!(err.is_rpc_error(), cfg!(feature = "anyhow"));
        if cfg!(feature = "anyhow") {
            assert_eq!(
                err.to_rpc_error(),
                RpcError::new(-32000, "division by zero")
            );
        }
    }
}
