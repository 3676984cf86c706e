//! The interop suite's Rust side: the `arith` and `notifications` contracts of clamator's
//! interop suite (spec §8.2), the runner for the JSON fixtures under `interop/fixtures/`, and
//! what the driver binaries share (their handlers, [`orphan`] exit on parent death).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod connect;
pub mod contracts;
pub mod fixtures;
pub mod handlers;
pub mod orphan;
pub mod runner;
