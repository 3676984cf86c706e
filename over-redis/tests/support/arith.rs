//! The shared `arith` test service (crate `clamator-testkit`), under the name these tests use.

pub(crate) use clamator_testkit::arith::*;
