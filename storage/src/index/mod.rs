//! The mailbox index: a view of the mailbox event records in the log.

/// A mailbox operation that the current state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailboxError {
    #[error("no such account {0}")]
    NoAccount(String),
}
