//! The sandbox's data: Maton connections and, per seller, Gumroad products (with their offer
//! codes, variants and custom fields), sales (with licenses and subscriptions) and webhooks.

use std::collections::HashMap;

use time::OffsetDateTime;

pub use super::catalog::*;

/// The seller a request acts for, as chosen by its Maton connection.
#[derive(Debug, Clone)]
pub struct Account {
    /// The seller's Gumroad `user_id`.
    pub seller_id: String,
    /// Whether the connection's OAuth token carries Gumroad's `edit_products` scope.
    pub edit_products: bool,
}

/// A Maton connection (one OAuth link to one Gumroad account).
#[derive(Debug, Clone)]
pub struct Connection {
    /// External id (a connection UUID, or Gumroad's url-safe base64 id).
    pub id: String,
    /// ACTIVE, PENDING or FAILED.
    pub status: String,
    /// When the connection was made (`creation_time`).
    pub created: OffsetDateTime,
    /// `last_updated_time`.
    pub updated: OffsetDateTime,
    /// `None` until the OAuth dance completes (PENDING connections).
    pub seller_id: Option<String>,
    pub edit_products: bool,
}

/// A Gumroad seller.
#[derive(Debug, Clone)]
pub struct Seller {
    /// Gumroad `user_id` (external id).
    pub user_id: String,
    /// Gumroad's numeric `id`, as a string.
    pub numeric_id: String,
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// `{subdomain}.gumroad.com`.
    pub subdomain: String,
}

/// A webhook registration.
#[derive(Debug, Clone)]
pub struct ResourceSubscription {
    /// External id (a connection UUID, or Gumroad's url-safe base64 id).
    pub id: String,
    /// Owner's `user_id`.
    pub seller_id: String,
    /// Event name, e.g. `sale`.
    pub resource_name: String,
    /// Where pings would go.
    pub post_url: String,
}

/// Everything the sandbox holds.
#[derive(Debug, Clone, Default)]
pub struct Store {
    /// Maton connections, oldest first.
    pub connections: Vec<Connection>,
    /// Gumroad accounts.
    pub sellers: Vec<Seller>,
    /// All sellers' products.
    pub products: Vec<Product>,
    /// All sellers' sales.
    pub sales: Vec<Sale>,
    /// Webhook registrations.
    pub hooks: Vec<ResourceSubscription>,
    /// How many computed extra licenses exist (`SandboxConfig::extra_licenses`).
    pub extra_licenses: u32,
    /// `uses` of the extra licenses that were verified with counting, by index.
    pub extra_uses: HashMap<u32, u64>,
}

impl Store {
    /// The ACTIVE connection `id`, as the account it acts for.
    pub fn active_connection(&self, id: &str) -> Option<Account> {
        self.connections
            .iter()
            .find(|c| c.id == id)
            .and_then(Connection::account)
    }

    /// Maton's default: the oldest ACTIVE connection.
    pub fn oldest_active_connection(&self) -> Option<Account> {
        self.connections
            .iter()
            .filter(|c| c.account().is_some())
            .min_by_key(|c| c.created)
            .and_then(Connection::account)
    }

    /// A seller by `user_id`.
    pub fn seller(&self, user_id: &str) -> Option<&Seller> {
        self.sellers.iter().find(|s| s.user_id == user_id)
    }

    /// Any seller's product by id (verify is not seller-scoped).
    pub fn product(&self, id: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.id == id)
    }

    /// `seller`'s product by id.
    pub fn own_product_mut(&mut self, seller: &str, id: &str) -> Option<&mut Product> {
        self.products
            .iter_mut()
            .find(|p| p.is(id) && p.seller_id == seller)
    }
}

impl Connection {
    fn account(&self) -> Option<Account> {
        if self.status != "ACTIVE" {
            return None;
        }
        Some(Account {
            seller_id: self.seller_id.clone()?,
            edit_products: self.edit_products,
        })
    }
}
