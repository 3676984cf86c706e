//! Contracts: a service name plus its methods, declared once and shared by client and server.
//!
//! A method is either a call ([`Method<P, R>`]: params type `P`, result type `R`) or a
//! notification ([`NotificationMethod<P>`]: params only, never answered). The descriptors are
//! `const`-constructible, so a contract is a handful of constants plus a [`Contract`] built from
//! them:
//!
//! ```
//! use clamator_protocol::{Contract, Method, NotificationMethod};
//! # #[derive(serde::Serialize, serde::Deserialize)] struct AddParams { a: f64, b: f64 }
//! # #[derive(serde::Serialize, serde::Deserialize)] struct AddResult { sum: f64 }
//! # #[derive(serde::Serialize, serde::Deserialize)] struct Ping { tag: Option<String> }
//! const ADD: Method<AddParams, AddResult> = Method::new("arith", "add");
//! const PING: NotificationMethod<Ping> = NotificationMethod::new("arith", "ping");
//!
//! let contract = Contract::builder("arith").method(ADD).notification(PING).build()?;
//! assert!(contract.method("add").is_some());
//! # Ok::<(), clamator_protocol::Error>(())
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::Error;
use crate::names::{is_valid_method, is_valid_service};
use crate::validation;

/// A typed request/response method: the one place its wire name and types are written down.
pub struct Method<P, R> {
    service: &'static str,
    name: &'static str,
    _types: PhantomData<fn(P) -> R>,
}

/// A typed notification: fire-and-forget, never answered.
pub struct NotificationMethod<P> {
    service: &'static str,
    name: &'static str,
    _types: PhantomData<fn(P)>,
}

macro_rules! descriptor_common {
    ($ty:ident < $($g:ident),* >) => {
        impl<$($g),*> $ty<$($g),*> {
            /// Names the method on the wire (`"<service>.<name>"`); checked when a contract is
            /// built and before every call.
            pub const fn new(service: &'static str, name: &'static str) -> Self {
                Self { service, name, _types: PhantomData }
            }

            /// The service part of the wire name.
            pub const fn service(&self) -> &'static str {
                self.service
            }

            /// The method part of the wire name.
            pub const fn name(&self) -> &'static str {
                self.name
            }
        }

        impl<$($g),*> Clone for $ty<$($g),*> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<$($g),*> Copy for $ty<$($g),*> {}

        impl<$($g),*> fmt::Debug for $ty<$($g),*> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({}.{})", stringify!($ty), self.service, self.name)
            }
        }
    };
}

descriptor_common!(Method<P, R>);
descriptor_common!(NotificationMethod<P>);

/// Whether a method is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodKind {
    /// Answered with a result or an error.
    Request,
    /// Never answered, even when sent with an id.
    Notification,
}

/// One method of a contract, with its params check (used when a method has no handler, so the
/// -32602 vs -32601 order of the peers holds).
#[derive(Clone)]
pub struct MethodDef {
    name: &'static str,
    kind: MethodKind,
    check_params: fn(&Value) -> Result<(), Value>,
}

impl MethodDef {
    /// The method's wire name (after the dot).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Request or notification.
    pub fn kind(&self) -> MethodKind {
        self.kind
    }

    /// Validates params against the method's params type; `Err` holds the -32602 `data`.
    pub fn check_params(&self, params: &Value) -> Result<(), Value> {
        (self.check_params)(params)
    }
}

impl fmt::Debug for MethodDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MethodDef")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish()
    }
}

fn check_params<P: DeserializeOwned>(params: &Value) -> Result<(), Value> {
    validation::decode_params::<P>(params).map(drop)
}

/// A service name plus its methods. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Contract {
    inner: Arc<ContractInner>,
}

#[derive(Debug)]
struct ContractInner {
    service: &'static str,
    methods: Vec<MethodDef>,
}

impl Contract {
    /// Starts a contract for `service`; names are checked in [`ContractBuilder::build`].
    pub fn builder(service: &'static str) -> ContractBuilder {
        ContractBuilder {
            service,
            methods: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// The service name (stream and consumer-group name over Redis).
    pub fn service(&self) -> &'static str {
        self.inner.service
    }

    /// Looks a method up by its wire name.
    pub fn method(&self, name: &str) -> Option<&MethodDef> {
        self.inner.methods.iter().find(|m| m.name == name)
    }

    /// All methods, in declaration order.
    pub fn methods(&self) -> &[MethodDef] {
        &self.inner.methods
    }
}

/// Collects methods and reports every naming problem at once in [`build`](Self::build).
#[derive(Debug)]
#[must_use]
pub struct ContractBuilder {
    service: &'static str,
    methods: Vec<MethodDef>,
    errors: Vec<String>,
}

impl ContractBuilder {
    /// Adds a request/response method.
    pub fn method<P, R>(self, method: Method<P, R>) -> Self
    where
        P: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.push(
            method.service,
            method.name,
            MethodKind::Request,
            check_params::<P>,
        )
    }

    /// Adds a notification.
    pub fn notification<P>(self, method: NotificationMethod<P>) -> Self
    where
        P: Serialize + DeserializeOwned,
    {
        self.push(
            method.service,
            method.name,
            MethodKind::Notification,
            check_params::<P>,
        )
    }

    fn push(
        mut self,
        service: &'static str,
        name: &'static str,
        kind: MethodKind,
        check_params: fn(&Value) -> Result<(), Value>,
    ) -> Self {
        if service != self.service {
            self.errors.push(format!(
                "method \"{service}.{name}\" does not belong to service \"{}\"",
                self.service
            ));
        }
        if !is_valid_method(name) {
            self.errors.push(format!(
                "invalid method name \"{name}\" (must match ^[a-z][a-zA-Z0-9]*$)"
            ));
        }
        if self.methods.iter().any(|m| m.name == name) {
            self.errors
                .push(format!("method \"{name}\" declared twice in \"{service}\""));
        }
        self.methods.push(MethodDef {
            name,
            kind,
            check_params,
        });
        self
    }

    /// Checks the service and method names (spec §1.3) and freezes the contract.
    pub fn build(mut self) -> Result<Contract, Error> {
        if !is_valid_service(self.service) {
            self.errors.insert(
                0,
                format!(
                    "invalid service name \"{}\" (must match ^[a-z][a-z0-9-]*$)",
                    self.service
                ),
            );
        }
        if !self.errors.is_empty() {
            return Err(Error::InvalidName(self.errors.join("; ")));
        }
        Ok(Contract {
            inner: Arc::new(ContractInner {
                service: self.service,
                methods: self.methods,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADD: Method<(f64, f64), f64> = Method::new("arith", "add");
    const PING: NotificationMethod<Value> = NotificationMethod::new("arith", "ping");

    #[test]
    fn builds_and_looks_up() {
        let c = Contract::builder("arith")
            .method(ADD)
            .notification(PING)
            .build()
            .unwrap();
        assert_eq!(c.service(), "arith");
        assert_eq!(c.method("add").unwrap().kind(), MethodKind::Request);
        assert_eq!(c.method("ping").unwrap().kind(), MethodKind::Notification);
        assert!(c.method("nope").is_none());
        assert_eq!(format!("{ADD:?}"), "Method(arith.add)");
    }

    #[test]
    fn rejects_bad_names_with_the_peer_texts() {
        let err = Contract::builder("Arith").build().unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid service name \"Arith\" (must match ^[a-z][a-z0-9-]*$)"
        );
        const BAD: Method<Value, Value> = Method::new("arith", "slow-add");
        let err = Contract::builder("arith")
            .method(BAD)
            .build()
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid method name \"slow-add\" (must match ^[a-z][a-zA-Z0-9]*$)"
        );
    }

    #[test]
    fn rejects_foreign_and_duplicate_methods() {
        const OTHER: Method<Value, Value> = Method::new("other", "add");
        let err = Contract::builder("arith")
            .method(OTHER)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
        let err = Contract::builder("arith")
            .method(ADD)
            .method(ADD)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("declared twice"), "{err}");
    }
}
