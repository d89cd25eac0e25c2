//! Why settings could not be had: a missing or invalid setting, or a secret that could not be
//! read. Every message names the setting, never its value.

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("setting {0} is required")]
    Missing(&'static str),
    #[error("setting {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("could not read the settings secret {id}: {reason}")]
    Secret { id: String, reason: String },
}

impl From<super::secrets::SecretError> for ConfigError {
    fn from(error: super::secrets::SecretError) -> Self {
        Self::Secret {
            id: error.id,
            reason: error.reason,
        }
    }
}
