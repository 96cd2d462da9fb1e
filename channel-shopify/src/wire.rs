//! Admin GraphQL response types, as Shopify documents them (only the fields the documents in
//! [`crate::documents`] select). Every field is optional or defaulted: a missing field is a gap in one
//! item, not a failed call.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::client::ThrottleStatus;

/// A GraphQL answer: `data`, top-level `errors`, and `extensions.cost`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Envelope {
    #[serde(default)]
    pub(crate) data: Option<Value>,
    #[serde(default)]
    pub(crate) errors: Option<Value>,
    #[serde(default)]
    pub(crate) extensions: Option<Extensions>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Extensions {
    #[serde(default)]
    pub(crate) cost: Option<Cost>,
}

/// `extensions.cost`: what the query cost and the bucket after it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Cost {
    #[serde(default)]
    pub(crate) requested_query_cost: Option<f64>,
    #[serde(default)]
    pub(crate) throttle_status: Option<ThrottleStatus>,
}

impl Envelope {
    pub(crate) fn cost(&self) -> Option<&Cost> {
        self.extensions.as_ref().and_then(|e| e.cost.as_ref())
    }

    /// The first `errors[].extensions.code`.
    pub(crate) fn error_code(&self) -> Option<String> {
        self.errors
            .as_ref()?
            .as_array()?
            .iter()
            .find_map(|e| e.pointer("/extensions/code").and_then(Value::as_str))
            .map(str::to_owned)
    }

    /// Top-level errors, when there are any.
    pub(crate) fn errors(&self) -> Option<&Value> {
        self.errors.as_ref().filter(|e| match e {
            Value::Null => false,
            Value::Array(a) => !a.is_empty(),
            Value::String(s) => !s.is_empty(),
            _ => true,
        })
    }
}

/// The messages of top-level `errors`, joined.
pub(crate) fn error_message(errors: &Value) -> String {
    match errors {
        Value::String(s) => s.clone(),
        Value::Array(list) => {
            list.iter().filter_map(|e| e.get("message").and_then(Value::as_str)).collect::<Vec<_>>().join("; ")
        }
        other => other.to_string(),
    }
}

/// `pageInfo { hasNextPage endCursor }`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageInfo {
    #[serde(default)]
    pub(crate) has_next_page: bool,
    #[serde(default)]
    pub(crate) end_cursor: Option<String>,
}

/// A connection read through `nodes` and `pageInfo`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Connection<T> {
    #[serde(default = "Vec::new")]
    pub(crate) nodes: Vec<T>,
    #[serde(default)]
    pub(crate) page_info: PageInfo,
}

impl<T> Connection<T> {
    /// The cursor of the next page, when there is one.
    pub(crate) fn next_cursor(&self) -> Option<String> {
        if self.page_info.has_next_page { self.page_info.end_cursor.clone() } else { None }
    }
}

/// An object selected only for its `id`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Id {
    #[serde(default)]
    pub(crate) id: Option<String>,
}

// ---- shop and location ----------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Shop {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) myshopify_domain: Option<String>,
    #[serde(default)]
    pub(crate) currency_code: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Location {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) name: Option<String>,
}

/// The answer to `ACCESS_SCOPES`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CurrentInstallation {
    #[serde(default)]
    pub(crate) current_app_installation: Option<AppInstallation>,
}

/// `AppInstallation` (only `accessScopes`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AppInstallation {
    pub(crate) access_scopes: Vec<AccessScope>,
}

/// `AccessScope` (only `handle`, e.g. `read_orders`).
#[derive(Debug, Deserialize)]
pub(crate) struct AccessScope {
    pub(crate) handle: String,
}

/// The answer to `SHOP_AND_LOCATION` / `SHOP_AND_LOCATIONS`.
#[derive(Debug, Deserialize)]
pub(crate) struct ShopAndLocations {
    #[serde(default)]
    pub(crate) shop: Option<Shop>,
    #[serde(default)]
    pub(crate) location: Option<Location>,
    #[serde(default)]
    pub(crate) locations: Option<Connection<Location>>,
}

// ---- variants and inventory -----------------------------------------------------------------------------------

/// A `ProductVariant`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Variant {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) sku: Option<String>,
    #[serde(default)]
    pub(crate) price: Option<String>,
    #[serde(default)]
    pub(crate) product: Option<Id>,
    #[serde(default)]
    pub(crate) inventory_item: Option<InventoryItem>,
}

/// An `InventoryItem`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InventoryItem {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) tracked: Option<bool>,
    #[serde(default)]
    pub(crate) inventory_level: Option<InventoryLevel>,
    /// Its variant (selected when the item is read by id).
    #[serde(default)]
    pub(crate) variant: Option<Box<Variant>>,
}

/// An `InventoryLevel`: the item's quantities at one location.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct InventoryLevel {
    #[serde(default)]
    pub(crate) quantities: Option<Vec<Quantity>>,
}

impl InventoryLevel {
    /// The `available` quantity.
    pub(crate) fn available(&self) -> Option<i64> {
        self.quantities.as_ref()?.iter().find(|q| q.name.as_deref() == Some("available"))?.quantity
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Quantity {
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) quantity: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProductVariants {
    #[serde(default)]
    pub(crate) product_variants: Option<Connection<Variant>>,
}

/// The answer to `nodes(ids:)`: one entry per id, `null` for an id that is no node of the shop.
#[derive(Debug, Deserialize)]
pub(crate) struct Nodes<T> {
    #[serde(default = "Vec::new")]
    pub(crate) nodes: Vec<Option<T>>,
}

/// Aliased fields (`a0`, `p1`, `i2`, …) of one document, by alias.
pub(crate) type Aliased<T> = BTreeMap<String, Option<T>>;

// ---- mutations ------------------------------------------------------------------------------------------------

/// One entry of a mutation's `userErrors`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct UserError {
    #[serde(default)]
    pub(crate) code: Option<String>,
    /// The path to the input field, as strings and indices.
    #[serde(default)]
    pub(crate) field: Option<Vec<Value>>,
    #[serde(default)]
    pub(crate) message: Option<String>,
}

impl UserError {
    /// The index at `position` of the field path (`["input", "quantities", "3", …]` → 3 at position 2).
    pub(crate) fn index_at(&self, position: usize) -> Option<usize> {
        let p = self.field.as_ref()?.get(position)?;
        p.as_str().and_then(|t| t.parse::<usize>().ok()).or_else(|| p.as_u64().and_then(|n| usize::try_from(n).ok()))
    }
}

/// The payload of `inventorySetQuantities` / `inventoryAdjustQuantities`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InventoryPayload {
    #[serde(default)]
    pub(crate) inventory_adjustment_group: Option<AdjustmentGroup>,
    #[serde(default)]
    pub(crate) user_errors: Vec<UserError>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AdjustmentGroup {
    #[serde(default)]
    pub(crate) changes: Vec<Change>,
}

/// One change of an adjustment group.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Change {
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) quantity_after_change: Option<i64>,
    #[serde(default)]
    pub(crate) item: Option<Id>,
}

/// The payload of `productVariantsBulkUpdate` and `fulfillmentCreate`: only the user errors are read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserErrorsPayload {
    #[serde(default)]
    pub(crate) user_errors: Vec<UserError>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FulfillmentCreate {
    #[serde(default)]
    pub(crate) fulfillment_create: Option<UserErrorsPayload>,
}

// ---- orders ---------------------------------------------------------------------------------------------------

/// An `Order` as the orders document selects it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Order {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) legacy_resource_id: Option<String>,
    #[serde(default)]
    pub(crate) created_at: Option<String>,
    #[serde(default)]
    pub(crate) updated_at: Option<String>,
    #[serde(default)]
    pub(crate) cancelled_at: Option<Value>,
    #[serde(default)]
    pub(crate) display_financial_status: Option<String>,
    #[serde(default)]
    pub(crate) display_fulfillment_status: Option<String>,
    #[serde(default)]
    pub(crate) line_items: Option<Connection<LineItem>>,
}

/// A `LineItem`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LineItem {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) sku: Option<String>,
    #[serde(default)]
    pub(crate) quantity: Option<i64>,
    #[serde(default)]
    pub(crate) current_quantity: Option<i64>,
    #[serde(default)]
    pub(crate) original_unit_price_set: Option<MoneyBag>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MoneyBag {
    #[serde(default)]
    pub(crate) shop_money: Option<MoneyV2>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MoneyV2 {
    #[serde(default)]
    pub(crate) amount: Option<String>,
    #[serde(default)]
    pub(crate) currency_code: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Orders {
    #[serde(default)]
    pub(crate) orders: Option<Connection<Order>>,
}

/// The answer to `ORDER_LINES` and `FULFILLMENT_ORDERS`: `order(id:)`.
#[derive(Debug, Deserialize)]
pub(crate) struct OrderById<T> {
    #[serde(default = "Option::default")]
    pub(crate) order: Option<T>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrderLines {
    #[serde(default)]
    pub(crate) line_items: Option<Connection<LineItem>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrderFulfillmentOrders {
    #[serde(default)]
    pub(crate) fulfillment_orders: Option<Connection<FulfillmentOrder>>,
}

/// The answer to `FULFILLMENT_ORDER_LINES`: `fulfillmentOrder(id:)`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FulfillmentOrderById {
    #[serde(default)]
    pub(crate) fulfillment_order: Option<FulfillmentOrderLines>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FulfillmentOrderLines {
    #[serde(default)]
    pub(crate) line_items: Option<Connection<FulfillmentOrderLineItem>>,
}

/// A `FulfillmentOrder`: its status, the actions it supports in that status (`FulfillmentOrderAction`),
/// its assigned location and its lines.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FulfillmentOrder {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) status: Option<String>,
    #[serde(default)]
    pub(crate) supported_actions: Vec<SupportedAction>,
    #[serde(default)]
    pub(crate) assigned_location: Option<AssignedLocation>,
    #[serde(default)]
    pub(crate) line_items: Option<Connection<FulfillmentOrderLineItem>>,
}

impl FulfillmentOrder {
    /// Whether `fulfillmentCreate` may fulfil it now (`supportedActions` lists `CREATE_FULFILLMENT`).
    pub(crate) fn can_create_fulfillment(&self) -> bool {
        self.supported_actions.iter().any(|a| a.action.as_deref() == Some("CREATE_FULFILLMENT"))
    }

    /// `assignedLocation.location.id`.
    pub(crate) fn location_id(&self) -> Option<&str> {
        self.assigned_location.as_ref()?.location.as_ref()?.id.as_deref()
    }
}

/// `FulfillmentOrderSupportedAction`.
#[derive(Debug, Deserialize)]
pub(crate) struct SupportedAction {
    #[serde(default)]
    pub(crate) action: Option<String>,
}

/// `FulfillmentOrderAssignedLocation`.
#[derive(Debug, Deserialize)]
pub(crate) struct AssignedLocation {
    #[serde(default)]
    pub(crate) location: Option<Id>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FulfillmentOrderLineItem {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) remaining_quantity: Option<u64>,
    #[serde(default)]
    pub(crate) line_item: Option<Id>,
}
