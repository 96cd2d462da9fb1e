//! The GraphQL documents the adapter sends (public so integrators can see exactly what is asked; the
//! client in the parent module sends them).

/// Shop identity, currency and every location (when no location is configured). Cost 253.
pub const SHOP_AND_LOCATIONS: &str = "query StocksyncShop { shop { id name myshopifyDomain currencyCode } \
locations(first: 250) { nodes { id name } } }";

/// Shop identity, currency and the configured location. Cost 2.
pub const SHOP_AND_LOCATION: &str = "query StocksyncShop($location: ID!) { shop { id name myshopifyDomain currencyCode } \
location(id: $location) { id name } }";

/// The access scopes granted to this app on the shop: `QueryRoot.currentAppInstallation` (the installation
/// of the app the token belongs to) → `AppInstallation.accessScopes: [AccessScope!]!` → `handle`
/// (<https://shopify.dev/docs/api/admin-graphql/2026-07/objects/AppInstallation>). Cost 2 (an object
/// and one list of objects). Sent by the connection test only.
pub const ACCESS_SCOPES: &str = "query StocksyncScopes { currentAppInstallation { accessScopes { handle } } }";

/// One page of variants with their `available` quantity at the location. Cost `2 + first × 5`.
pub const VARIANTS: &str = "query StocksyncVariants($first: Int!, $after: String, $location: ID!) { \
productVariants(first: $first, after: $after) { pageInfo { hasNextPage endCursor } \
nodes { id sku price product { id } inventoryItem { id tracked inventoryLevel(locationId: $location) { \
quantities(names: [\"available\"]) { name quantity } } } } } }";

/// Most ids in one [`INVENTORY_ITEMS`] read: Shopify refuses any input array over 250 items.
pub const NODES_MAX: usize = 250;

/// Inventory items by id (`nodes(ids:)`, at most [`NODES_MAX`]), each with its variant and its `available`
/// quantity at the location: the listings a caller asks for by id. Ids that are no inventory item of
/// the shop answer `null`. About 5 points per id (each object selected costs 1).
pub const INVENTORY_ITEMS: &str = "query StocksyncInventoryItems($ids: [ID!]!, $location: ID!) { nodes(ids: $ids) { \
... on InventoryItem { id tracked inventoryLevel(locationId: $location) { quantities(names: [\"available\"]) { name quantity } } \
variant { id sku price product { id } } } } }";

/// The most a single query may cost (<https://shopify.dev/docs/api/usage/limits>, "Single query limit").
pub const MAX_QUERY_COST: usize = 1_000;

/// Absolute `available` quantities with compare-and-set, one `@idempotent` key per call. Cost 14: the
/// mutation 10, and the payload's objects `inventoryAdjustmentGroup`, `changes`, `item`, `userErrors`
/// 1 each ("Cost calculation": every field costs what it returns, an object 1, a mutation 10).
pub const SET_QUANTITIES: &str = "mutation StocksyncSetQuantities($input: InventorySetQuantitiesInput!, $key: String!) { \
inventorySetQuantities(input: $input) @idempotent(key: $key) { \
inventoryAdjustmentGroup { id changes(quantityNames: [\"available\"]) { name delta quantityAfterChange item { id } } } \
userErrors { code field message } } }";

/// Deltas to `available`, one `@idempotent` key per call. Cost 14 (as [`SET_QUANTITIES`]).
pub const ADJUST_QUANTITIES: &str = "mutation StocksyncAdjustQuantities($input: InventoryAdjustQuantitiesInput!, $key: String!) { \
inventoryAdjustQuantities(input: $input) @idempotent(key: $key) { \
inventoryAdjustmentGroup { id changes(quantityNames: [\"available\"]) { name delta quantityAfterChange item { id } } } \
userErrors { code field message } } }";

/// What one alias of [`keyed_adjustments`] costs: the mutation 10, its payload's objects
/// (`inventoryAdjustmentGroup`, `changes`, `item`, `userErrors`) 1 each.
pub const KEYED_ALIAS_COST: usize = 14;

/// `inventoryAdjustQuantities` once per keyed adjustment in one document, as aliases `a0`, `a1`, … with
/// variables `$a0`/`$k0`, …: each alias is its own mutation under its own `@idempotent` key (so each
/// adjustment is applied at most once whatever it is batched with) and costs [`KEYED_ALIAS_COST`], so at
/// most [`crate::MAX_KEYED_ADJUSTMENTS`] (`1,000 / 14` = 71) go in one call.
pub fn keyed_adjustments(count: usize) -> String {
    let mut vars = Vec::with_capacity(count);
    let mut fields = Vec::with_capacity(count);
    for i in 0..count {
        vars.push(format!("$a{i}: InventoryAdjustQuantitiesInput!, $k{i}: String!"));
        fields.push(format!(
            "a{i}: inventoryAdjustQuantities(input: $a{i}) @idempotent(key: $k{i}) {{ \
inventoryAdjustmentGroup {{ id changes(quantityNames: [\"available\"]) {{ name delta quantityAfterChange item {{ id }} }} }} \
userErrors {{ code field message }} }}"
        ));
    }
    format!("mutation StocksyncAdjustQuantitiesKeyed({}) {{ {} }}", vars.join(", "), fields.join(" "))
}

/// Orders updated at or after a time, oldest change first. Cost `2 + first × 63`.
pub const ORDERS: &str = "query StocksyncOrders($first: Int!, $after: String, $query: String!) { \
orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) { pageInfo { hasNextPage endCursor } \
nodes { id legacyResourceId createdAt updatedAt cancelledAt displayFinancialStatus displayFulfillmentStatus \
lineItems(first: 20) { pageInfo { hasNextPage endCursor } \
nodes { id sku quantity currentQuantity originalUnitPriceSet { shopMoney { amount currencyCode } } } } } } }";

/// The rest of an order's lines, past the first 20. Cost 303.
pub const ORDER_LINES: &str = "query StocksyncOrderLines($id: ID!, $after: String) { order(id: $id) { \
lineItems(first: 100, after: $after) { pageInfo { hasNextPage endCursor } \
nodes { id sku quantity currentQuantity originalUnitPriceSet { shopMoney { amount currencyCode } } } } } }";

/// An order's fulfillment orders (5 a page, `after` for the next), each with the actions it supports now,
/// the location it is assigned to and its first 50 lines (the rest: [`FULFILLMENT_ORDER_LINES`] from
/// the lines' `endCursor`). Cost 533.
pub const FULFILLMENT_ORDERS: &str = "query StocksyncFulfillmentOrders($id: ID!, $after: String) { order(id: $id) { \
fulfillmentOrders(first: 5, after: $after) { pageInfo { hasNextPage endCursor } nodes { id status \
supportedActions { action } assignedLocation { location { id } } \
lineItems(first: 50) { pageInfo { hasNextPage endCursor } nodes { id remainingQuantity lineItem { id } } } } } } }";

/// The rest of a fulfillment order's lines, past its first 50 (`QueryRoot.fulfillmentOrder`). Cost 503.
pub const FULFILLMENT_ORDER_LINES: &str = "query StocksyncFulfillmentOrderLines($id: ID!, $after: String) { \
fulfillmentOrder(id: $id) { lineItems(first: 250, after: $after) { pageInfo { hasNextPage endCursor } \
nodes { id remainingQuantity lineItem { id } } } } }";

/// A fulfillment with tracking. Cost 12 (the mutation 10, `fulfillment` and `userErrors` 1 each).
pub const FULFILLMENT_CREATE: &str = "mutation StocksyncFulfillmentCreate($fulfillment: FulfillmentInput!) { \
fulfillmentCreate(fulfillment: $fulfillment) { fulfillment { id status } userErrors { field message } } }";

/// What one alias of [`prices`] costs: the mutation 10, its payload's objects (`productVariants`,
/// `userErrors`) 1 each.
pub const PRICE_ALIAS_COST: usize = 12;

/// `productVariantsBulkUpdate` for `products` products in one document, as aliases `p0`, `p1`, … with
/// variables `$p0`/`$v0`, …: each alias costs [`PRICE_ALIAS_COST`], so at most [`crate::MAX_PRICES`]
/// (`1,000 / 12` = 83) products go in one call.
pub fn prices(products: usize) -> String {
    let mut vars = Vec::with_capacity(products);
    let mut fields = Vec::with_capacity(products);
    for i in 0..products {
        vars.push(format!("$p{i}: ID!, $v{i}: [ProductVariantsBulkInput!]!"));
        fields.push(format!(
            "p{i}: productVariantsBulkUpdate(productId: $p{i}, variants: $v{i}) {{ productVariants {{ id price compareAtPrice }} userErrors {{ code field message }} }}"
        ));
    }
    format!("mutation StocksyncSetPrices({}) {{ {} }}", vars.join(", "), fields.join(" "))
}

/// Most items [`available`] reads in one query (each costs 4 points).
pub const STALE_READ_MAX: usize = 200;

/// The `available` quantity of `items` inventory items at a location, as aliases `i0`, `i1`, … with
/// variables `$i0`, … and `$location`: how a stale item's actual quantity is read when Shopify's message does
/// not state it.
pub fn available(items: usize) -> String {
    let mut vars = vec!["$location: ID!".to_owned()];
    let mut fields = Vec::with_capacity(items);
    for i in 0..items {
        vars.push(format!("$i{i}: ID!"));
        fields.push(format!(
            "i{i}: inventoryItem(id: $i{i}) {{ id inventoryLevel(locationId: $location) {{ quantities(names: [\"available\"]) {{ name quantity }} }} }}"
        ));
    }
    format!("query StocksyncAvailable({}) {{ {} }}", vars.join(", "), fields.join(" "))
}
