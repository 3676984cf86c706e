//! Redis Streams transport for clamator (work in progress).
#![forbid(unsafe_code)]
