//! Shared pieces of the runnable examples: the `arith` contract of clamator's interop suite
//! (spec §8.2), declared once and used by every example program.
#![forbid(unsafe_code)]

pub mod arith;
