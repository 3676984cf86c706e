//! The lifecycle every client and server core goes through: idle → started → stopped.
//!
//! It lives in its own module rather than with the errors because it is not an error: it is
//! what [`RpcClientCore::state`](crate::RpcClientCore::state) and
//! [`RpcServerCore::state`](crate::RpcServerCore::state) report, and only incidentally part of
//! one error's text (`transport not started (state=…)`).

use std::fmt;

/// Lifecycle state of a transport or core, shown in "transport not started (state=…)".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Built, not started yet.
    Idle,
    /// Serving or able to call.
    Started,
    /// Stopped for good; cannot be restarted.
    Stopped,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Idle => "idle",
            State::Started => "started",
            State::Stopped => "stopped",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::State;

    #[test]
    fn displays_as_the_peers_state_names() {
        assert_eq!(State::Idle.to_string(), "idle");
        assert_eq!(State::Started.to_string(), "started");
        assert_eq!(State::Stopped.to_string(), "stopped");
    }
}
