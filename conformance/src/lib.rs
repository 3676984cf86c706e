//! The transport conformance suite lives in `tests/`: every check runs over the memory bus and
//! over Redis, so both transports are held to one contract. This library holds the test
//! service and a bus abstraction the checks are written against.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bus;
pub mod service;
