//! The `#[service]` attribute of clamator (one trait gives the contract, the server trait, a
//! typed client and the schema manifest hook) and `#[data]` (the derives of params and result
//! types, through `clamator`'s re-exports).
//!
//! Use it through the umbrella crate as `#[clamator::service(name = "...")]`; the generated code
//! names items as `::clamator::...` (or the path given with `crate = ...`), so this crate is not
//! meant to be depended on directly. The full description, with an example, is on
//! `clamator::service`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod data;
mod expand;

use proc_macro::TokenStream;

/// Derives a clamator service from a trait of `async fn`s (reference: `clamator::service`).
///
/// Arguments: `name = "<service>"` (required), `crate = <path>` (default `::clamator`); per
/// method `#[clamator(rename = "<wireName>")]` and `#[clamator(notification)]`.
#[proc_macro_attribute]
pub fn service(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::service(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Derives what a params or result type needs (`Serialize`, `Deserialize`, `JsonSchema`) through
/// the `clamator` crate's re-exports (reference: `clamator::data`).
///
/// Argument: `crate = <path>` (default `::clamator`).
#[proc_macro_attribute]
pub fn data(attr: TokenStream, item: TokenStream) -> TokenStream {
    data::data(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
