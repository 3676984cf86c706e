//! The calls a client core waits on, and the handle a transport uses to answer them.
//!
//! A transport whose responses arrive on their own (a Redis reply stream read by a loop) gets a
//! [`Replies`] when it starts and hands every response it reads to [`Replies::deliver`]. The
//! core registers each call before the transport sends it, so a response that arrives before
//! the send returns still finds its caller, and removes it however the call ends (answer,
//! timeout, dropped future, stop). Transports never keep a pending table of their own.

use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::oneshot;

use crate::envelope::Response;
use crate::error::{Error, TransportError};

/// Where a transport's request landed, in the transport's own order (for Redis, the request's
/// stream entry id as `(milliseconds, sequence)`). Lets a transport fail every call sent before
/// some point at once, e.g. when it finds replies were deleted before it read them.
pub type SendMark = (u64, u64);

#[derive(Debug)]
struct Waiting {
    answer: oneshot::Sender<Result<Response, Error>>,
    sent: Option<SendMark>,
}

/// The waiting calls of one client core, keyed by request id (`Id::key`). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Replies {
    calls: Arc<DashMap<String, Waiting>>,
}

impl Replies {
    /// Registers a call; the receiver resolves with its response or failure.
    pub(crate) fn register(&self, key: String) -> oneshot::Receiver<Result<Response, Error>> {
        let (answer, rx) = oneshot::channel();
        self.calls.insert(key, Waiting { answer, sent: None });
        rx
    }

    /// Forgets a call (it ended without an answer: timeout, dropped future).
    pub(crate) fn forget(&self, key: &str) {
        self.calls.remove(key);
    }

    /// Fails every waiting call with `transport stopped`.
    pub(crate) fn fail_all_stopped(&self) {
        // Dropping the senders resolves every receiver; the core maps that to `Stopped`.
        self.calls.clear();
    }

    /// Hands a response to the call waiting for its id. False when nobody waits for it any
    /// more (it timed out, or the id belongs to another client): the transport counts those.
    pub fn deliver(&self, response: Response) -> bool {
        match self.calls.remove(response.key().as_ref()) {
            Some((_, waiting)) => {
                let _ = waiting.answer.send(Ok(response));
                true
            }
            None => false,
        }
    }

    /// Fails the call waiting under `key` (e.g. its reply was malformed). False when nobody
    /// waits under that key.
    pub fn fail(&self, key: &str, error: Error) -> bool {
        match self.calls.remove(key) {
            Some((_, waiting)) => {
                let _ = waiting.answer.send(Err(error));
                true
            }
            None => false,
        }
    }

    /// Records where the call under `key` was sent (see [`SendMark`]).
    pub fn mark_sent(&self, key: &str, mark: SendMark) {
        if let Some(mut waiting) = self.calls.get_mut(key) {
            waiting.sent = Some(mark);
        }
    }

    /// Fails every call marked as sent before `mark` with the error `make` builds; returns
    /// how many were failed.
    pub fn fail_sent_before(&self, mark: SendMark, make: impl Fn() -> Error) -> usize {
        let keys: Vec<String> = self
            .calls
            .iter()
            .filter(|w| w.sent.is_some_and(|sent| sent < mark))
            .map(|w| w.key().clone())
            .collect();
        keys.iter().filter(|key| self.fail(key, make())).count()
    }

    /// Calls waiting now.
    pub fn waiting(&self) -> usize {
        self.calls.len()
    }

    /// True when no call waits (a reply reader may then skip work only waiting calls need).
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}

/// What a dropped answer sender means to the caller: the core stopped.
pub(crate) fn stopped() -> Error {
    TransportError::Stopped.into()
}
