//! Validity periods of certificates, given by the caller (this crate never reads the clock).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

use crate::PkiError;

/// How long the cluster CA is valid by default (Docker: 20 years).
pub const DEFAULT_CA_LIFETIME: Duration = Duration::from_secs(20 * 365 * 24 * 60 * 60);

/// How long a node certificate is valid by default (Docker: 90 days).
pub const DEFAULT_NODE_CERT_LIFETIME: Duration = Duration::from_secs(90 * 24 * 60 * 60);

/// A certificate's validity: from `not_before`, for `lifetime` (whole seconds; X.509 has no less).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// The first moment the certificate is valid. Callers usually backdate it a little to allow
    /// for clock skew between nodes.
    pub not_before: SystemTime,
    /// How long it stays valid.
    pub lifetime: Duration,
}

impl Validity {
    /// A validity period starting at `not_before` and lasting `lifetime`.
    pub fn new(not_before: SystemTime, lifetime: Duration) -> Self {
        Self {
            not_before,
            lifetime,
        }
    }

    /// Both ends as Unix seconds, checked.
    pub(crate) fn unix_bounds(&self) -> Result<(i64, i64), PkiError> {
        if self.lifetime.as_secs() == 0 {
            return Err(PkiError::InvalidValidity {
                reason: "the lifetime must be at least one second",
            });
        }
        let start = self
            .not_before
            .duration_since(UNIX_EPOCH)
            .map_err(|_| PkiError::InvalidValidity {
                reason: "the start is before 1970",
            })?
            .as_secs();
        let end = start
            .checked_add(self.lifetime.as_secs())
            .and_then(|e| i64::try_from(e).ok())
            .ok_or(PkiError::InvalidValidity {
                reason: "the end is too far in the future",
            })?;
        let start = i64::try_from(start).map_err(|_| PkiError::InvalidValidity {
            reason: "the start is too far in the future",
        })?;
        Ok((start, end))
    }

    /// Both ends as the dates rcgen takes.
    pub(crate) fn dates(&self) -> Result<(OffsetDateTime, OffsetDateTime), PkiError> {
        let (start, end) = self.unix_bounds()?;
        let date = |secs| {
            OffsetDateTime::from_unix_timestamp(secs).map_err(|_| PkiError::InvalidValidity {
                reason: "the end is too far in the future",
            })
        };
        Ok((date(start)?, date(end)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_empty_and_pre_epoch() {
        let t = UNIX_EPOCH + Duration::from_secs(1_000);
        assert!(Validity::new(t, Duration::from_millis(500))
            .dates()
            .is_err());
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert!(Validity::new(before, Duration::from_secs(5))
            .dates()
            .is_err());
        assert!(Validity::new(t, Duration::from_secs(u64::MAX))
            .dates()
            .is_err());
        let (a, b) = Validity::new(t, Duration::from_secs(60)).dates().unwrap();
        assert_eq!(b - a, time::Duration::seconds(60));
    }
}
