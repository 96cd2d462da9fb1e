//! Integration management with the real adapters (`AdapterFactory`) against the channel-testkit emulators.
#![cfg(all(feature = "takealot", feature = "woocommerce"))]

use std::sync::Arc;

use channel_core::{ChannelKind, ErrorKind, StoreId, WebhookRequest};
use channel_testkit::takealot::{TakealotConfig, TakealotEmulator};
use channel_testkit::woocommerce::{WooCommerceConfig, WooCommerceEmulator};
use serde_json::json;
use sync_engine::connections::Disconnected;
use sync_engine::{
    AdapterFactory, Connections, CredentialCipher, Credentials, MemoryStore, NewConnection, Store, SystemClock,
};

fn connections() -> (Arc<dyn Store>, Connections) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let cipher = CredentialCipher::new(&[7; 32]);
    let conns = Connections::new(Arc::clone(&store), Arc::new(AdapterFactory::new()), cipher, Arc::new(SystemClock));
    (store, conns)
}

/// The settings of a connection that identifies its account by seller id: `GET /v2/seller` is not in the
/// swagger, so both the adapter (`identity`) and the emulator (`serve_seller_endpoint`) opt in to it.
fn takealot_settings(e: &TakealotEmulator) -> serde_json::Value {
    json!({
        "base_url": e.base_url(),
        "merchant_warehouse_id": e.warehouse_ids()[0],
        "identity": {"kind": "seller_endpoint", "path": "/v2/seller"}
    })
}

fn seller_endpoint_account() -> TakealotConfig {
    let mut config = TakealotConfig::default();
    config.serve_seller_endpoint = true;
    config
}

#[tokio::test]
async fn takealot_binds_to_its_seller_account_and_keeps_the_binding_after_disconnect() {
    let account_a = TakealotEmulator::start(seller_endpoint_account()).await.unwrap();
    let mut other = seller_endpoint_account();
    other.seller_id = 7_654_321;
    let account_b = TakealotEmulator::start(other).await.unwrap();
    let (_store, conns) = connections();
    let id = StoreId::new("takealot");

    // Wrong credentials never get in.
    let wrong =
        NewConnection::new("takealot", ChannelKind::Takealot, "Takealot", Credentials::new().with("api_key", "nope"))
            .with_settings(takealot_settings(&account_a));
    let err = conns.add(wrong).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(!err.to_string().contains("nope"));

    let new = NewConnection::new(
        "takealot",
        ChannelKind::Takealot,
        "Takealot",
        Credentials::new().with("api_key", account_a.api_key()),
    )
    .with_settings(takealot_settings(&account_a))
    .source_of_truth(true);
    let rec = conns.add(new).await.unwrap();
    assert_eq!(rec.account.as_ref().map(|a| a.account_id.as_str()), Some("1234567"));
    assert_eq!(conns.test(&id).await.unwrap().account_id, "1234567");

    // Credentials of another seller account are refused; the binding stays.
    let other_account = Credentials::new().with("api_key", account_b.api_key()).with("base_url", account_b.base_url());
    let err = conns.update_credentials(&id, other_account).await.unwrap_err();
    assert!(matches!(err, sync_engine::Error::AccountMismatch { .. }), "{err}");
    assert_eq!(conns.test(&id).await.unwrap().account_id, "1234567", "the old key still works");

    // Disconnect: the key is gone and webhooks are refused, but the account binding stays.
    match conns.disconnect(&id).await.unwrap() {
        Disconnected::KeptBinding { account } => assert_eq!(account.as_deref(), Some("1234567")),
        other => panic!("Takealot keeps its binding: {other:?}"),
    }
    let after = conns.get(&id).await.unwrap();
    assert!(after.credentials.is_none(), "the API key is deleted");
    let hook = WebhookRequest::new(&b"{}"[..]).header("X-Takealot-Event", "Offer Updated");
    assert!(conns.verify_webhook(&id, &hook).await.is_err(), "webhooks are refused after disconnect");
    // Reconnecting must use the same account.
    let err = conns
        .update_credentials(
            &id,
            Credentials::new().with("api_key", account_b.api_key()).with("base_url", account_b.base_url()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, sync_engine::Error::AccountMismatch { .. }), "{err}");
    conns.update_credentials(&id, Credentials::new().with("api_key", account_a.api_key())).await.unwrap();
    assert_eq!(conns.test(&id).await.unwrap().account_id, "1234567");
}

#[tokio::test]
async fn a_woocommerce_store_connects_through_its_adapter_and_disconnecting_removes_it() {
    let woo = WooCommerceEmulator::start(WooCommerceConfig::default()).await.unwrap();
    let (store, conns) = connections();
    let creds =
        Credentials::new().with("consumer_key", woo.consumer_key()).with("consumer_secret", woo.consumer_secret());
    let new = NewConnection::new("woo", ChannelKind::Woocommerce, "Woo", creds)
        .with_settings(json!({"store_url": woo.base_url()}));
    let rec = conns.add(new).await.unwrap();
    assert!(rec.account.is_some(), "the site identity is recorded");
    let id = StoreId::new("woo");
    assert!(conns.test(&id).await.is_ok());
    assert!(matches!(conns.disconnect(&id).await.unwrap(), Disconnected::Removed(_)));
    assert!(store.connection(&id).await.unwrap().is_none(), "a non-Takealot store is removed");
}
