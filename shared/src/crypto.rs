//! Keys derived from `SECRET_KEY`, and sealing of data at rest (AES-256-GCM).
//!
//! One high-entropy secret is configured; HKDF-SHA256 derives an independent key per use, so
//! the JWT signing key and the data-encryption key never coincide. A sealed value is
//! `version (1 byte) || nonce (12) || ciphertext+tag`, and is bound to its owner (for example the
//! user id) as associated data, so it cannot be copied onto another row.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

const SEALED_V1: u8 = 1;
const NONCE_LEN: usize = 12;

/// The keys of this deployment. Debug output never shows them.
#[derive(Clone)]
pub struct Keys {
    jwt: [u8; 32],
    data: Aes256Gcm,
    successor: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("sealed data is corrupt or was sealed with another key")]
pub struct OpenError;

impl Keys {
    pub fn derive(secret_key: &SecretString) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"stockroom"), secret_key.expose_secret().as_bytes());
        let mut jwt = [0u8; 32];
        let mut data = [0u8; 32];
        let mut successor = [0u8; 32];
        // 32-byte outputs are far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
        hk.expand(b"jwt-hs256-v1", &mut jwt)
            .expect("valid HKDF output length");
        hk.expand(b"data-aes256gcm-v1", &mut data)
            .expect("valid HKDF output length");
        hk.expand(b"refresh-successor-hmac-v1", &mut successor)
            .expect("valid HKDF output length");
        Self {
            jwt,
            data: Aes256Gcm::new(&data.into()),
            successor,
        }
    }

    /// The 32 bytes a rotated refresh token's successor is made of: HMAC-SHA256 of the old token
    /// under a key of its own, so presenting the old token again yields the same successor
    /// without any plaintext token being stored.
    pub fn successor_of(&self, token: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.successor)
            .expect("HMAC takes keys of any length");
        mac.update(token.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The HS256 signing key for access tokens.
    pub fn jwt_secret(&self) -> &[u8] {
        &self.jwt
    }

    /// Encrypts `plaintext`, bound to `owner` (authenticated, not encrypted).
    pub fn seal(&self, plaintext: &[u8], owner: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .data
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: owner,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer does not fail");
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(SEALED_V1);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Decrypts what [`Keys::seal`] produced for the same `owner`.
    pub fn open(&self, sealed: &[u8], owner: &[u8]) -> Result<Vec<u8>, OpenError> {
        match sealed {
            [SEALED_V1, rest @ ..] if rest.len() > NONCE_LEN => {
                let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
                self.data
                    .decrypt(
                        Nonce::from_slice(nonce),
                        Payload {
                            msg: ciphertext,
                            aad: owner,
                        },
                    )
                    .map_err(|_| OpenError)
            }
            _ => Err(OpenError),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> Keys {
        Keys::derive(&SecretString::from(secret.to_owned()))
    }

    #[test]
    fn sealed_data_opens_for_its_owner_only() {
        let k = keys("a-long-test-secret-key-of-at-least-32-chars");
        let sealed = k.seal(b"JBSWY3DPEHPK3PXP", b"user-1");
        assert_eq!(k.open(&sealed, b"user-1").unwrap(), b"JBSWY3DPEHPK3PXP");
        assert!(k.open(&sealed, b"user-2").is_err());
        assert!(!sealed.windows(16).any(|w| w == b"JBSWY3DPEHPK3PXP"));
    }

    #[test]
    fn another_key_cannot_open_it() {
        let sealed = keys("a-long-test-secret-key-of-at-least-32-chars").seal(b"x", b"o");
        assert!(
            keys("another-long-test-secret-key-of-32-chars!")
                .open(&sealed, b"o")
                .is_err()
        );
    }

    #[test]
    fn the_derived_keys_differ() {
        let k = keys("a-long-test-secret-key-of-at-least-32-chars");
        let data_probe = k.seal(b"", b"");
        assert_ne!(k.jwt_secret(), &data_probe[..]);
        assert_eq!(k.jwt_secret().len(), 32);
        assert!(!format!("{k:?}").contains(&format!("{:?}", k.jwt_secret())));
    }
}
