//! The sandbox's data: Maton connections and, per seller, Gumroad products (with their offer
//! codes, variants and custom fields), sales (with licenses and subscriptions) and webhooks.

use time::OffsetDateTime;

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
    pub id: String,
    /// ACTIVE, PENDING or FAILED.
    pub status: String,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
    /// `None` until the OAuth dance completes (PENDING connections).
    pub seller_id: Option<String>,
    pub edit_products: bool,
}

/// A Gumroad seller.
#[derive(Debug, Clone)]
pub struct Seller {
    pub user_id: String,
    pub numeric_id: String,
    pub name: String,
    pub email: String,
    pub subdomain: String,
}

/// A product and its parts.
#[derive(Debug, Clone)]
pub struct Product {
    pub id: String,
    pub seller_id: String,
    pub name: String,
    /// Gumroad's 5-letter unique permalink (`short_product_id`).
    pub unique_permalink: String,
    pub custom_permalink: Option<String>,
    pub description: String,
    pub price: i64,
    pub currency: String,
    pub created_at: OffsetDateTime,
    pub published: bool,
    /// `Some("monthly")` etc. for memberships.
    pub recurrence: Option<String>,
    /// Gumroad sometimes serializes `sales_count`/`sales_usd_cents` as strings.
    pub counts_as_strings: bool,
    pub offer_codes: Vec<OfferCode>,
    pub variant_categories: Vec<VariantCategory>,
    pub custom_fields: Vec<CustomField>,
}

/// A discount code.
#[derive(Debug, Clone)]
pub struct OfferCode {
    pub id: String,
    pub name: String,
    pub amount_off: i64,
    /// "cents" or "percent".
    pub offer_type: String,
    pub max_purchase_count: Option<i64>,
    pub universal: bool,
}

/// A group of variants ("Tier", "Size").
#[derive(Debug, Clone)]
pub struct VariantCategory {
    pub id: String,
    pub title: String,
    pub variants: Vec<Variant>,
}

/// One option of a variant category.
#[derive(Debug, Clone)]
pub struct Variant {
    pub id: String,
    pub name: String,
    pub price_difference_cents: i64,
    pub max_purchase_count: Option<i64>,
}

/// A checkout field, keyed by its name.
#[derive(Debug, Clone)]
pub struct CustomField {
    pub name: String,
    pub required: bool,
}

/// A purchase.
#[derive(Debug, Clone)]
pub struct Sale {
    pub id: String,
    pub seller_id: String,
    pub product_id: String,
    pub email: String,
    pub full_name: String,
    pub price: i64,
    pub gumroad_fee: i64,
    pub created_at: OffsetDateTime,
    pub order_number: u64,
    pub purchaser_id: String,
    pub quantity: u32,
    pub refunded: bool,
    pub partially_refunded: bool,
    pub chargebacked: bool,
    pub disputed: bool,
    pub dispute_won: bool,
    pub test: bool,
    pub ip_country: String,
    /// (category title, variant name).
    pub variants: Vec<(String, String)>,
    /// (field name, value).
    pub custom_fields: Vec<(String, String)>,
    pub license: Option<License>,
    pub subscription: Option<Subscription>,
}

/// A license key attached to a sale.
#[derive(Debug, Clone)]
pub struct License {
    pub id: String,
    pub key: String,
    pub uses: u64,
    pub disabled: bool,
    pub access_revoked: bool,
}

/// A membership's subscription, attached to its first sale.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// Also the subscriber id.
    pub id: String,
    pub recurrence: String,
    /// alive, pending_cancellation, pending_failure, failed_payment,
    /// fixed_subscription_period_ended or cancelled.
    pub status: String,
    pub cancelled_at: Option<OffsetDateTime>,
    pub ended_at: Option<OffsetDateTime>,
    pub failed_at: Option<OffsetDateTime>,
    pub charge_occurrence_count: u32,
}

/// A webhook registration.
#[derive(Debug, Clone)]
pub struct ResourceSubscription {
    pub id: String,
    pub seller_id: String,
    pub resource_name: String,
    pub post_url: String,
}

/// Everything the sandbox holds.
#[derive(Debug, Clone, Default)]
pub struct Store {
    pub connections: Vec<Connection>,
    pub sellers: Vec<Seller>,
    pub products: Vec<Product>,
    pub sales: Vec<Sale>,
    pub hooks: Vec<ResourceSubscription>,
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
            .find(|p| p.id == id && p.seller_id == seller)
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
