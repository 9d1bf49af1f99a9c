//! `status.secretMAC`: an HMAC-SHA256 of the credential values as clientops wrote
//! them. It detects a Secret whose values were changed or removed behind
//! clientops' back and reveals nothing usable about the values.
//!
//! The key is the OAuthClient's UID: stable for the object's life and never
//! shared with another object, so a MAC cannot be replayed onto another client's
//! Secret. The secrets it covers are provider-generated high-entropy values; the
//! MAC is a change detector, not a vault.
//!
//! It covers the credentials only. Every other key clientops writes (extra data,
//! endpoints, rendered templates) is derived from them and the spec, and the
//! observation renders those again and compares them byte for byte
//! ([`super::observe`]): a hand-edited derived key is a shape mismatch, restored
//! with the same credentials, never mistaken for a lost secret (which a MAC
//! mismatch means, and which issues a new one).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::ClientSecret;

/// The MAC of (client id, secret, previous secret), as `v1:<hex>`.
pub fn secret_mac(
    key: &str,
    client_id: &str,
    secret: Option<&ClientSecret>,
    previous: Option<&ClientSecret>,
) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts any key length");
    for part in [
        Some(client_id),
        secret.map(|s| s.expose()),
        previous.map(|s| s.expose()),
    ] {
        match part {
            Some(p) => {
                mac.update(&(p.len() as u64).to_be_bytes());
                mac.update(p.as_bytes());
            }
            None => mac.update(&u64::MAX.to_be_bytes()),
        }
    }
    format!("v1:{}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_with_every_input_and_hides_the_values() {
        let s = ClientSecret::new("s3cr3t");
        let base = secret_mac("uid-1", "c1", Some(&s), None);
        assert!(!base.contains("s3cr3t"));
        assert_eq!(
            base,
            secret_mac("uid-1", "c1", Some(&ClientSecret::new("s3cr3t")), None)
        );
        assert_ne!(base, secret_mac("uid-2", "c1", Some(&s), None));
        assert_ne!(base, secret_mac("uid-1", "c2", Some(&s), None));
        assert_ne!(
            base,
            secret_mac("uid-1", "c1", Some(&ClientSecret::new("other")), None)
        );
        assert_ne!(base, secret_mac("uid-1", "c1", Some(&s), Some(&s)));
        assert_ne!(base, secret_mac("uid-1", "c1", None, None));
        // Length-prefixed: moving a byte between fields changes the MAC.
        assert_ne!(
            secret_mac("k", "ab", Some(&ClientSecret::new("c")), None),
            secret_mac("k", "a", Some(&ClientSecret::new("bc")), None)
        );
    }
}
