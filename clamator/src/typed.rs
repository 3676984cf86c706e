//! The two traits generated code relies on: reaching a client core from whatever a typed client
//! wraps, and naming a generated contract generically (e.g. to build a manifest).

use std::rc::Rc;
use std::sync::Arc;

use crate::manifest::ManifestEntry;
use crate::schema::SchemaError;
use crate::{ClientTransport, Contract, RpcClientCore};

/// Anything a generated `<Trait>Client` can call through: an [`RpcClientCore`], a reference to
/// one, an `Arc`/`Box`/`Rc` of one, or a transport's client facade. Lets one typed client serve
/// owned, borrowed and shared clients alike.
pub trait AsClientCore {
    /// The transport the calls travel over.
    type Transport: ClientTransport;

    /// The client core the typed methods call.
    fn client_core(&self) -> &RpcClientCore<Self::Transport>;
}

impl<T: ClientTransport> AsClientCore for RpcClientCore<T> {
    type Transport = T;

    fn client_core(&self) -> &RpcClientCore<T> {
        self
    }
}

impl<C: AsClientCore + ?Sized> AsClientCore for &C {
    type Transport = C::Transport;

    fn client_core(&self) -> &RpcClientCore<C::Transport> {
        (**self).client_core()
    }
}

impl<C: AsClientCore + ?Sized> AsClientCore for Arc<C> {
    type Transport = C::Transport;

    fn client_core(&self) -> &RpcClientCore<C::Transport> {
        (**self).client_core()
    }
}

impl<C: AsClientCore + ?Sized> AsClientCore for Box<C> {
    type Transport = C::Transport;

    fn client_core(&self) -> &RpcClientCore<C::Transport> {
        (**self).client_core()
    }
}

impl<C: AsClientCore + ?Sized> AsClientCore for Rc<C> {
    type Transport = C::Transport;

    fn client_core(&self) -> &RpcClientCore<C::Transport> {
        (**self).client_core()
    }
}

/// Implemented by every generated `<Trait>Contract`, so code can take "a contract" as a type
/// parameter (see [`Manifest::with_contract`](crate::Manifest::with_contract)).
pub trait ServiceContract {
    /// The service name.
    const SERVICE_NAME: &'static str;

    /// The runtime contract.
    fn contract() -> Contract;

    /// Schema hashes of every method.
    fn manifest_entries() -> Result<Vec<ManifestEntry>, SchemaError>;
}
