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
