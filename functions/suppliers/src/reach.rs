//! What a supplier and each of its contacts have alike: a name, an email and a phone.

use shared::error::Fields;

/// Whom to ask for: a supplier's name, email and phone, or one of its contacts', checked alike.
pub struct Reach {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl Reach {
    /// The start of a supplier's or contact's check (their bodies begin with these fields):
    /// the three checked, with the errors found so far for the rest of the body to add to.
    pub fn check(name: &str, email: &Option<String>, phone: &Option<String>) -> (Self, Fields) {
        let mut fields = Fields::default();
        let reach = Self {
            // Empty only when invalid, and then `finish` refuses the body.
            name: fields.name(name, "name", 200).unwrap_or_default(),
            email: fields.email(email.as_deref(), "email"),
            phone: fields.text(phone.as_deref(), "phone", 50),
        };
        (reach, fields)
    }
}
