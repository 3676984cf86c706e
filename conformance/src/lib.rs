//! The transport conformance suite lives in `tests/`: every check runs over the memory bus and
//! over Redis, so both transports are held to one contract. This library holds a bus
//! abstraction the checks are written against; the service is the shared `arith` test service.
#![forbid(unsafe_code)]

pub mod bus;
/// The shared `arith` test service (crate `clamator-testkit`), as the checks call it.
pub use clamator_testkit::arith as service;
