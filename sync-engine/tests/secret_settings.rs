//! Secrets belong in the credentials (sealed at rest), never in a connection's settings (stored in plain
//! text): `add` and `update` refuse a setting whose name is a secret's, naming it and nothing else.

mod support;

use channel_core::{ChannelKind, ErrorKind};
use serde_json::json;
use support::*;
use sync_engine::factory::credential_names;
use sync_engine::settings::{check_settings, is_secret_name};
use sync_engine::store::ConnectionFilter;
use sync_engine::{ConnectionUpdate, Error, NewConnection};

fn refused_setting(err: &Error) -> Option<&str> {
    match err {
        Error::SecretInSettings { setting } => Some(setting),
        _ => None,
    }
}

#[tokio::test]
async fn add_refuses_a_secret_in_the_settings_and_stores_nothing() {
    let f = fixture();
    f.world.add_key("good", "seller-1");
    let new = NewConnection::new("tk", ChannelKind::Takealot, "Takealot", key("good"))
        .with_settings(json!({"merchant_warehouse_id": 1, "api_key": "plain-text-key"}));
    let err = f.connections.add(new).await.expect_err("a secret in the settings is refused");
    assert_eq!(refused_setting(&err), Some("api_key"), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert_eq!(err.to_string(), "settings.api_key is a secret: put it in the credentials (env var or file)");
    assert!(!format!("{err} {err:?}").contains("plain-text-key"), "the value never shows");
    assert!(f.store.connections(&ConnectionFilter::all()).await.unwrap().is_empty(), "nothing is stored");
}

#[tokio::test]
async fn update_refuses_a_secret_in_the_settings_and_changes_nothing() {
    let f = fixture();
    f.world.add_key("good", "seller-1");
    f.connections
        .add(NewConnection::new("tk", ChannelKind::Takealot, "Takealot", key("good")).with_settings(json!({"a": 1})))
        .await
        .unwrap();
    let update = ConnectionUpdate::new().with_settings(json!({"a": 2, "shop_access_token": "tok"}));
    let err = f.connections.update(&sid("tk"), update).await.expect_err("refused");
    assert_eq!(refused_setting(&err), Some("shop_access_token"), "{err:?}");
    let stored = f.store.connection(&sid("tk")).await.unwrap().unwrap();
    assert_eq!(stored.settings, json!({"a": 1}), "the settings are unchanged");
    assert_eq!(stored.version, 1);
}

#[test]
fn every_adapter_credential_is_a_secret_name() {
    for channel in [ChannelKind::Takealot, ChannelKind::Shopify, ChannelKind::Woocommerce, ChannelKind::Amazon] {
        let names = credential_names(channel);
        assert!(!names.is_empty(), "{channel} has credentials");
        for name in names {
            assert!(is_secret_name(name), "{channel}: {name}");
            assert!(check_settings(&json!({ *name: "x" })).is_err(), "{channel}: {name}");
        }
    }
}

#[test]
fn generic_secret_names_are_refused_and_known_settings_are_not() {
    for name in ["password", "db_password", "client_secret", "clientSecret", "x_token", "private_key", "apikey"] {
        assert!(is_secret_name(name), "{name} is a secret");
    }
    for name in [
        "token_url",
        "base_url",
        "merchant_warehouse_id",
        "signature_scheme",
        "oauth_signature_method",
        "sku_rules",
        "store_url",
        "shop_domain",
        "location_id",
        "marketplace_ids",
    ] {
        assert!(!is_secret_name(name), "{name} is not a secret");
    }
    // Nested tables are stored in plain text just the same.
    let nested = check_settings(&json!({"identity": {"kind": "x"}, "auth": {"password": "p"}})).unwrap_err();
    assert_eq!(nested.to_string(), "settings.auth.password is a secret: put it in the credentials (env var or file)");
    assert!(check_settings(&json!({"rules": [{"suffix": "-X"}, {"client_secret": "s"}]})).is_err());
    // Settings that are not a table are left to the adapter to refuse.
    assert!(check_settings(&json!(null)).is_ok());
    assert!(check_settings(&json!({"sku_rules": [{"suffix": "-FBA", "fulfilment": "channel"}]})).is_ok());
}
