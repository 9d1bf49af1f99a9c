//! `ClientSecret`: the one type that holds an OAuth client secret.
//!
//! It never prints its value: `Debug` and `Display` show `[REDACTED]`, so a secret
//! cannot reach a log line, an event, a status field or an error message by
//! accident. Reading the value is explicit (`expose`), and the memory is zeroed on
//! drop (via `secrecy`).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An OAuth client secret.
#[derive(Clone)]
pub struct ClientSecret(SecretString);

impl ClientSecret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// A new secret of `len` ASCII letters and digits from a CSPRNG: URL-unreserved,
    /// so no encoding of a token request (form, HTTP Basic) can change it.
    pub fn random_alphanumeric(len: usize) -> Self {
        use rand::Rng;
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let mut rng = rand::rng();
        let s: String = (0..len)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect();
        Self::new(s)
    }

    /// The secret value. Call only where the value must leave the process: the
    /// provider request body, the Kubernetes Secret's data, an HMAC.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([REDACTED])")
    }
}

impl fmt::Display for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl PartialEq for ClientSecret {
    /// Constant-time comparison.
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.expose().as_bytes(), other.expose().as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl Eq for ClientSecret {}

/// Serializes the plain value: only wire bodies (the provider API, the emulator's
/// responses) serialize a `ClientSecret`.
impl Serialize for ClientSecret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for ClientSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = ClientSecret::new("hunter2-very-secret");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            secret: Option<ClientSecret>,
        }
        let h = Holder {
            secret: Some(s.clone()),
        };
        assert!(!format!("{h:?}").contains("hunter2"));
        assert!(!format!("{h:#?}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2-very-secret");
    }

    #[test]
    fn round_trips_through_json_for_wire_bodies() {
        let s: ClientSecret = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"abc\"");
        assert_eq!(s, ClientSecret::new("abc"));
        assert_ne!(s, ClientSecret::new("abd"));
        assert_ne!(s, ClientSecret::new("ab"));
    }
}
