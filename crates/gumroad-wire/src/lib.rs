//! Gumroad API v2's wire vocabulary: what a request says and what Gumroad answers, as both
//! Gumgate and its sandbox read and write it. Keeping it here, in one small crate, means the
//! gateway and the stand-in upstream can never disagree on it, and the sandbox needs nothing
//! from the gateway.
//!
//! # Layout
//!
//! - [`params`]: request parameters read the way Gumroad (Rails) reads them: query and body
//!   merged, bracketed keys nested, `increment_uses_count`'s one "false".
//! - [`licenses`]: license keys compared as Gumroad compares them, and the three sentences of
//!   a verify's definitive 404.
//! - [`sales`]: the message of a sale lookup's 200 not-found.
//! - [`webhooks`]: the resource names Gumroad's resource subscriptions (pings) deliver.

pub mod licenses;
pub mod params;
pub mod sales;
pub mod webhooks;
