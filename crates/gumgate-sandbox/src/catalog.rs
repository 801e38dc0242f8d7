//! What sellers sell and what buyers bought: products with their offer codes, variants and
//! custom fields, and sales with their licenses and subscriptions.

use time::OffsetDateTime;

/// A product and its parts.
#[derive(Debug, Clone)]
pub struct Product {
    /// Gumroad's internal numeric id: only the tie-breaker half of a `page_key`.
    pub number: u64,
    /// External id (a connection UUID, or Gumroad's url-safe base64 id).
    pub id: String,
    /// Owner's `user_id`.
    pub seller_id: String,
    /// Display name.
    pub name: String,
    /// Gumroad's 5-letter unique permalink (`short_product_id`).
    pub unique_permalink: String,
    pub custom_permalink: Option<String>,
    /// Product description.
    pub description: String,
    /// Price in cents.
    pub price: i64,
    /// Lower-case ISO code, e.g. `usd`.
    pub currency: String,
    /// Creation time (UTC).
    pub created_at: OffsetDateTime,
    /// False after `PUT .../disable`.
    pub published: bool,
    /// `Some("monthly")` etc. for memberships.
    pub recurrence: Option<String>,
    /// Gumroad sometimes serializes `sales_count`/`sales_usd_cents` as strings.
    pub counts_as_strings: bool,
    /// Discount codes.
    pub offer_codes: Vec<OfferCode>,
    /// Variant groups and their options.
    pub variant_categories: Vec<VariantCategory>,
    /// Checkout fields.
    pub custom_fields: Vec<CustomField>,
}

impl Product {
    /// Gumroad's `fetch_product` takes the external id or the unique permalink.
    pub fn is(&self, id_or_permalink: &str) -> bool {
        self.id == id_or_permalink || self.unique_permalink == id_or_permalink
    }
}

/// A discount code.
#[derive(Debug, Clone)]
pub struct OfferCode {
    /// External id (a connection UUID, or Gumroad's url-safe base64 id).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Cents or percent, per `offer_type`.
    pub amount_off: i64,
    /// "cents" or "percent".
    pub offer_type: String,
    /// Usage cap; `None` = unlimited.
    pub max_purchase_count: Option<i64>,
    /// Valid for all the seller's products.
    pub universal: bool,
}

/// A group of variants ("Tier", "Size").
#[derive(Debug, Clone)]
pub struct VariantCategory {
    /// External id (a connection UUID, or Gumroad's url-safe base64 id).
    pub id: String,
    /// Category title, e.g. "Tier".
    pub title: String,
    /// Options of the category.
    pub variants: Vec<Variant>,
}

/// One option of a variant category.
#[derive(Debug, Clone)]
pub struct Variant {
    /// External id (a connection UUID, or Gumroad's url-safe base64 id).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Added to the product price.
    pub price_difference_cents: i64,
    /// Usage cap; `None` = unlimited.
    pub max_purchase_count: Option<i64>,
}

/// A checkout field, keyed by its name.
#[derive(Debug, Clone)]
pub struct CustomField {
    /// Display name.
    pub name: String,
    /// Whether checkout requires it.
    pub required: bool,
    /// `text` unless created with another `type`.
    pub kind: String,
}

/// A purchase.
#[derive(Debug, Clone)]
pub struct Sale {
    /// External id (a connection UUID, or Gumroad's url-safe base64 id).
    pub id: String,
    /// Owner's `user_id`.
    pub seller_id: String,
    /// Product id.
    pub product_id: String,
    /// Email address.
    pub email: String,
    /// Buyer's name.
    pub full_name: String,
    /// Price in cents.
    pub price: i64,
    /// Gumroad's fee in cents.
    pub gumroad_fee: i64,
    /// Creation time (UTC).
    pub created_at: OffsetDateTime,
    /// Numeric order id (`order_number` / `order_id`).
    pub order_number: u64,
    /// Buyer's numeric id.
    pub purchaser_id: String,
    /// Seats / units bought.
    pub quantity: u32,
    /// Fully refunded.
    pub refunded: bool,
    /// Partly refunded.
    pub partially_refunded: bool,
    /// Charged back by the card holder.
    pub chargebacked: bool,
    /// A dispute was opened.
    pub disputed: bool,
    /// The seller won the dispute.
    pub dispute_won: bool,
    /// The seller bought their own product.
    pub test: bool,
    /// Country of the buyer's IP.
    pub ip_country: String,
    /// (category title, variant name).
    pub variants: Vec<(String, String)>,
    /// (field name, value).
    pub custom_fields: Vec<(String, String)>,
    /// The license key, for licensed products.
    pub license: Option<License>,
    /// The subscription, for memberships.
    pub subscription: Option<Subscription>,
}

/// A license key attached to a sale.
#[derive(Debug, Clone)]
pub struct License {
    /// External id (a connection UUID, or Gumroad's url-safe base64 id).
    pub id: String,
    /// The key, `XXXXXXXX-XXXXXXXX-XXXXXXXX-XXXXXXXX`.
    pub key: String,
    /// Verify count.
    pub uses: u64,
    /// Disabled by the seller (or by a refund since Aug 2026).
    pub disabled: bool,
    /// Access revoked by the seller.
    pub access_revoked: bool,
}

/// A membership's subscription, attached to its first sale.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// Also the subscriber id.
    pub id: String,
    /// Billing period, e.g. `monthly`.
    pub recurrence: String,
    /// alive, pending_cancellation, pending_failure, failed_payment,
    /// fixed_subscription_period_ended or cancelled.
    pub status: String,
    /// When it was cancelled, if it was.
    pub cancelled_at: Option<OffsetDateTime>,
    /// When it ended, if it did.
    pub ended_at: Option<OffsetDateTime>,
    /// When the last charge failed, if it did.
    pub failed_at: Option<OffsetDateTime>,
    /// Charges so far.
    pub charge_occurrence_count: u32,
}
