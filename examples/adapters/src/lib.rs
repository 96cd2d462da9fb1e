//! What every adapter example does once it has a channel: show who it is connected to, list the
//! listings, and push one quantity (see the package README).

use channel_core::{Channel, ChannelExt, StockUpdate};

/// The error type of the example programs.
pub type BoxError = Box<dyn std::error::Error>;

/// Print the account, every listing, and — when `push` names a SKU — set that SKU's merchant listing to
/// the quantity (with compare-and-set against the quantity just read where the channel has it).
/// `sku_var` names the environment variable that chooses the SKU, for the message when none is given.
pub async fn list_and_push(channel: &dyn Channel, push: Option<(&str, i64)>, sku_var: &str) -> Result<(), BoxError> {
    let who = channel.test_connection().await?;
    println!(
        "{} account {} ({}) {:?}",
        channel.kind(),
        who.account_id,
        who.display_name.as_deref().unwrap_or("no name"),
        who.details
    );

    let listings = channel.all_listings().await?;
    for l in &listings {
        println!(
            "{:<34} {:<12} {:<28} {:<8} {:<8} {}",
            l.id.as_str(),
            l.channel_sku,
            format!("{:?}", l.stock),
            format!("{:?}", l.fulfilment),
            format!("{:?}", l.status),
            l.price.map_or_else(String::new, |p| p.to_string()),
        );
    }

    let Some((sku, quantity)) = push else {
        println!("{sku_var} not set: nothing written");
        return Ok(());
    };
    let Some(target) = listings.iter().find(|l| l.channel_sku == sku && l.is_writable()) else {
        return Err(format!("no merchant listing with SKU {sku}").into());
    };
    let mut update = StockUpdate::new(target.id.clone(), sku, quantity).with_ids(target.ids.clone());
    if let (true, Some(seen)) = (channel.capabilities().compare_and_set, target.quantity()) {
        update = update.expecting(seen);
    }
    for outcome in channel.set_stock(&[update]).await? {
        println!("set {sku} ({}) to {quantity}: {:?}", outcome.listing, outcome.outcome);
    }
    Ok(())
}
