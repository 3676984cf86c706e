//! `arith` and `notifications`, exactly as clamator's interop contracts declare them (spec
//! §8.2). They are defined once, in `clamator-examples` (the contract the examples show users);
//! `tests/manifest.rs` checks that their JSON Schemas hash to the values the TypeScript codegen
//! computes (spec §8.4), so a drift between the Rust types and clamator's own contracts fails.

pub use clamator_examples::arith::{
    AddParams, Arith, ArithClient, ArithContract, Notifications, NotificationsClient,
    NotificationsContract, PingParams, QuotientResult, SlowAddParams, SumResult, Text,
};
