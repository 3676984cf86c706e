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
use crate::error::{Error, RpcError};
use crate::validation::{decode, decode_params, encode_result};

/// What a handler failed with. An [`RpcError`] goes to the caller as is; any other error becomes
/// `-32603 "Internal error"` with `{"name","message"}` data (the peers' `exceptionToErrorData`).
///
/// Any `std::error::Error` converts into it with `?`, so handlers can use their own error types.
pub struct HandlerError {
    name: String,
    source: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl HandlerError {
    /// An internal error with a chosen `name` and `message` (for failures that are not a type).
    pub fn internal(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            source: message.into().into(),
        }
    }

    /// The JSON-RPC error the caller receives.
    pub fn to_rpc_error(&self) -> RpcError {
        match self.source.downcast_ref::<RpcError>() {
            Some(rpc) => rpc.clone(),
            None => RpcError::internal(json!({
                "name": self.name,
                "message": self.source.to_string(),
            })),
        }
    }

    /// True when the handler deliberately rejected the call with an [`RpcError`] (the peers do
    /// not log those).
    pub fn is_rpc_error(&self) -> bool {
        self.source.is::<RpcError>()
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        Self {
            name: short_type_name::<E>().to_owned(),
            source: Box::new(error),
        }
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:?}", self.name, self.source)
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.source)
    }
}

/// `std::io::error::Error` → `Error`, `my_crate::DbError<T>` → `DbError`: the class-name
/// equivalent of Python's `type(exc).__name__`.
fn short_type_name<T: ?Sized>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
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
            return Err(Error::InvalidName(self.errors.join("; ")));
        }
        Ok(Service {
            contract: self.contract,
            handlers: Arc::new(self.handlers),
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
            json!({"name":"Error","message":"boom"})
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
    fn type_names_are_short() {
        assert_eq!(short_type_name::<std::io::Error>(), "Error");
        assert_eq!(short_type_name::<Vec<String>>(), "Vec");
    }
}
