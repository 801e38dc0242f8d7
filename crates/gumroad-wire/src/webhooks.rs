//! Gumroad's webhook vocabulary: the resource names a resource subscription can be made for,
//! and that its pings carry as `resource_name`.

/// The resource names Gumroad's resource subscriptions deliver.
pub const RESOURCES: &[&str] = &[
    "sale",
    "refund",
    "dispute",
    "dispute_won",
    "cancellation",
    "subscription_updated",
    "subscription_ended",
    "subscription_restarted",
];

/// The resources that can take access away: a refund, a dispute (Gumroad's chargebacks), a
/// cancellation, an ended subscription, and a plan change (a downgrade can revoke). Gumgate
/// processes them before the others (`sale`, `dispute_won`, `subscription_restarted`).
pub const REVOKING: &[&str] = &[
    "refund",
    "dispute",
    "cancellation",
    "subscription_ended",
    "subscription_updated",
];
