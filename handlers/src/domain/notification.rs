//! Where a notification stands, and where each of its deliveries stands: the values
//! stored, filtered on and shown, as types.

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationStatus {
    /// Created; not every endpoint has been tried to the end yet.
    Pending,
    /// Delivered to every endpoint.
    Sent,
    /// Delivered to some endpoints; the others failed for good.
    Partial,
    /// Every endpoint failed for good.
    Failed,
    /// The matching rules had no enabled endpoint.
    NoEndpoints,
    /// A silence or maintenance window applied: recorded, not delivered.
    Silenced,
}

impl NotificationStatus {
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::Sent,
        Self::Partial,
        Self::Failed,
        Self::NoEndpoints,
        Self::Silenced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Sent => "SENT",
            Self::Partial => "PARTIAL",
            Self::Failed => "FAILED",
            Self::NoEndpoints => "NO_ENDPOINTS",
            Self::Silenced => "SILENCED",
        }
    }
}

/// Where one delivery (a notification to one endpoint) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Attempts remain, or it waits for a redrive while its receiver is down.
    Retrying,
    /// The receiver took it.
    Delivered,
    /// Failed for good (a permanent answer, or every attempt used).
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retrying => "RETRYING",
            Self::Delivered => "DELIVERED",
            Self::Failed => "FAILED",
        }
    }
}

/// What a delivery carries: the notification itself, one of its repeats (1, 2, …), or
/// the news that it is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeliveryPhase {
    Firing,
    Repeat(i32),
    Resolved,
}

impl DeliveryPhase {
    const REPEAT: &'static str = "repeat-";

    /// `firing`, `repeat-N` or `resolved`: the stored name, and the idempotency key's
    /// suffix.
    pub fn name(self) -> String {
        match self {
            Self::Firing => "firing".to_owned(),
            Self::Repeat(n) => format!("{}{n}", Self::REPEAT),
            Self::Resolved => "resolved".to_owned(),
        }
    }

    /// The phase of a stored row; rows from before resolutions are the firing ones.
    pub fn of_row(value: &str) -> Self {
        if value == "resolved" {
            return Self::Resolved;
        }
        match value
            .strip_prefix(Self::REPEAT)
            .and_then(|n| n.parse().ok())
        {
            Some(n) => Self::Repeat(n),
            None => Self::Firing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_round_trip_through_their_stored_names() {
        for phase in [
            DeliveryPhase::Firing,
            DeliveryPhase::Repeat(1),
            DeliveryPhase::Repeat(12),
            DeliveryPhase::Resolved,
        ] {
            assert_eq!(DeliveryPhase::of_row(&phase.name()), phase);
        }
        assert_eq!(DeliveryPhase::Repeat(3).name(), "repeat-3");
    }

    #[test]
    fn statuses_round_trip_in_any_case() {
        for status in NotificationStatus::ALL {
            assert_eq!(status.as_str().to_lowercase().parse(), Ok(status));
        }
        assert!("DONE".parse::<NotificationStatus>().is_err());
    }
}
