//! One module per command group.

pub mod bench;
pub mod call;
pub mod dead;
pub mod manifest;
pub mod pending;
pub mod services;
pub mod tail;
