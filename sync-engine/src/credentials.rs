//! Credentials and how they are kept at rest.
//!
//! The store never sees credentials in the clear: [`CredentialCipher`] seals them with
//! ChaCha20-Poly1305 under a 32-byte key the host supplies (from its secret manager or an environment
//! variable), with a fresh random nonce per seal and the store id as associated data, so a sealed value
//! copied onto another connection's row does not open. Losing the key means re-entering the credentials;
//! nothing else is lost.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use channel_core::StoreId;
use secrecy::{ExposeSecret, SecretString};

use crate::store::SealedCredentials;
use crate::{Error, Result};

const PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;

/// A connection's credentials by name (`api_key`, `access_token`, `consumer_key`, `consumer_secret`, …).
/// Values are secrets: `Debug` lists only the names.
#[derive(Clone, Default)]
pub struct Credentials(BTreeMap<String, SecretString>);

impl Credentials {
    /// No credentials.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one (builder style).
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(name, value);
        self
    }

    /// Add one.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), SecretString::from(value.into()));
    }

    /// One credential's value.
    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.0.get(name)
    }

    /// One credential's value, exposed (for adapters building their clients).
    pub fn expose(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(ExposeSecret::expose_secret)
    }

    /// The names present.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for name in self.0.keys() {
            m.entry(name, &"******");
        }
        m.finish()
    }
}

/// Seals and opens [`Credentials`] with ChaCha20-Poly1305 under a host-supplied key.
#[derive(Clone)]
pub struct CredentialCipher {
    cipher: ChaCha20Poly1305,
}

impl fmt::Debug for CredentialCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CredentialCipher(******)")
    }
}

impl CredentialCipher {
    /// A cipher with a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Self {
        Self { cipher: ChaCha20Poly1305::new(Key::from_slice(key)) }
    }

    /// A cipher from a base64 key (standard alphabet, 32 bytes once decoded).
    pub fn from_base64(key: &str) -> Result<Self> {
        let bytes =
            B64.decode(key.trim()).map_err(|_| Error::Credentials("the credential key is not valid base64".into()))?;
        let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            Error::Credentials(format!("the credential key is {} bytes; 32 are needed", b.len()))
        })?;
        Ok(Self::new(&key))
    }

    /// A fresh random key, base64-encoded (for `stocksync` to print when setting up).
    pub fn generate_key() -> String {
        B64.encode(ChaCha20Poly1305::generate_key(&mut OsRng))
    }

    /// Seal credentials for a store.
    pub fn seal(&self, store: &StoreId, credentials: &Credentials) -> Result<SealedCredentials> {
        let plain: BTreeMap<&str, &str> = credentials.0.iter().map(|(k, v)| (k.as_str(), v.expose_secret())).collect();
        let plain = serde_json::to_vec(&plain).map_err(|e| Error::Credentials(format!("cannot encode: {e}")))?;
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(&nonce, Payload { msg: &plain, aad: store.as_str().as_bytes() })
            .map_err(|_| Error::Credentials("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(SealedCredentials::from_sealed(format!("{PREFIX}{}", B64.encode(out))))
    }

    /// Open a store's sealed credentials. Fails when the key is wrong or the value was tampered with or
    /// belongs to another store.
    pub fn open(&self, store: &StoreId, sealed: &SealedCredentials) -> Result<Credentials> {
        let body = sealed
            .as_str()
            .strip_prefix(PREFIX)
            .ok_or_else(|| Error::Credentials(format!("store {store}: unknown credential format")))?;
        let bytes =
            B64.decode(body).map_err(|_| Error::Credentials(format!("store {store}: corrupted credentials")))?;
        if bytes.len() < NONCE_LEN {
            return Err(Error::Credentials(format!("store {store}: corrupted credentials")));
        }
        let (nonce, ct) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: store.as_str().as_bytes() })
            .map_err(|_| {
                Error::Credentials(format!(
                    "store {store}: credentials do not open with this key (wrong key or tampered)"
                ))
            })?;
        let map: BTreeMap<String, String> = serde_json::from_slice(&plain)
            .map_err(|_| Error::Credentials(format!("store {store}: corrupted credentials")))?;
        Ok(Credentials(map.into_iter().map(|(k, v)| (k, SecretString::from(v))).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_without_leaking() {
        let cipher = CredentialCipher::from_base64(&CredentialCipher::generate_key()).unwrap();
        let creds = Credentials::new().with("api_key", "super-secret-key");
        let store = StoreId::new("takealot");
        let sealed = cipher.seal(&store, &creds).unwrap();
        assert!(!sealed.as_str().contains("super-secret"));
        assert!(!format!("{creds:?} {sealed:?} {cipher:?}").contains("super-secret"));
        let opened = cipher.open(&store, &sealed).unwrap();
        assert_eq!(opened.expose("api_key"), Some("super-secret-key"));
        assert_ne!(cipher.seal(&store, &creds).unwrap(), sealed, "a fresh nonce each time");
        let err = cipher.open(&StoreId::new("other"), &sealed).unwrap_err();
        assert_eq!(err.kind(), channel_core::ErrorKind::Config, "bound to its store");
        let other = CredentialCipher::new(&[7; 32]);
        assert!(other.open(&store, &sealed).is_err(), "wrong key");
        assert!(CredentialCipher::from_base64("c2hvcnQ=").is_err());
        assert!(CredentialCipher::from_base64("not base64!").is_err());
    }
}
