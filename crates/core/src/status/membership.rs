//! Which instances belong to an Auto Scaling group: a small trait (the SDK implementation is in
//! the `asg-lifecycle-aws` crate).

use async_trait::async_trait;

/// Reading a group's members failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    /// The group does not exist.
    #[error("failed to find Auto Scaling group `{group}`")]
    GroupNotFound {
        /// The group.
        group: String,
    },
    /// The request failed.
    #[error("failed to describe Auto Scaling group `{group}`: {message}")]
    Request {
        /// The group.
        group: String,
        /// What the service or the transport said.
        message: String,
        /// True for throttling, 5xx and network errors.
        retryable: bool,
    },
}

/// The instances of an Auto Scaling group.
#[async_trait]
pub trait GroupMembership: Send + Sync {
    /// The ids of the instances currently in `group`, in any order.
    ///
    /// # Errors
    /// When the group does not exist or the request failed.
    async fn members(&self, group: &str) -> Result<Vec<String>, MembershipError>;
}
