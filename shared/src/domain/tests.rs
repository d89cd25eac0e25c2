//! Values parsed at the edge, as each input reads.

use super::*;

#[test]
fn money_text_is_exactly_the_documented_pattern() {
    for good in ["0", "12.50", "3.5", "999999999999.99", "007"] {
        assert!(money_text::parse(good).is_some(), "{good}");
    }
    assert_eq!(money_text::parse("12.5").unwrap().to_string(), "12.5");
    for bad in [
        "",
        "1e3",
        "+5",
        "-5",
        "5.",
        ".5",
        "1_000",
        "1_00",
        " 5",
        "5 ",
        "1.005",
        "1,5",
        "1000000000000",
        "٣",
        "NaN",
    ] {
        assert!(money_text::parse(bad).is_none(), "{bad}");
    }
}

#[test]
fn currencies_are_iso_4217_codes_of_money() {
    assert_eq!(currency("EUR", "currency").unwrap(), "EUR");
    assert!(currency("eur", "currency").is_err());
    assert!(currency(" EUR", "currency").is_err());
    for not_money in ["ZZZ", "XXX", "XAU", "XTS", "BOV"] {
        assert!(currency(not_money, "currency").is_err(), "{not_money}");
    }
    assert!(currency("EURO", "currency").is_err());
    assert!(currency("E1R", "currency").is_err());
}

#[test]
fn patches_tell_absent_from_null_from_a_value() {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        notes: Patch<String>,
        #[serde(default, deserialize_with = "money_text::patch")]
        cost: Patch<rust_decimal::Decimal>,
    }
    let read = |json: &str| serde_json::from_str::<Body>(json).unwrap();
    assert_eq!(read("{}").notes, Patch::Keep);
    assert_eq!(read(r#"{"notes": null}"#).notes, Patch::Clear);
    assert_eq!(read(r#"{"notes": "x"}"#).notes, Patch::Set("x".to_owned()));
    assert_eq!(read("{}").cost, Patch::Keep);
    assert_eq!(read(r#"{"cost": null}"#).cost, Patch::Clear);
    assert_eq!(
        read(r#"{"cost": "1.50"}"#)
            .cost
            .apply(None)
            .unwrap()
            .to_string(),
        "1.50"
    );
    assert!(serde_json::from_str::<Body>(r#"{"cost": 1.5}"#).is_err());

    let now = Some("old");
    assert_eq!(Patch::Keep.apply(now), Some("old"));
    assert_eq!(Patch::Clear.apply(now), None);
    assert_eq!(Patch::Set("new").apply(now), Some("new"));
    assert_eq!(Patch::Set(2).map(|n| n * 2), Patch::Set(4));
    assert_eq!(
        Patch::<i32>::Clear.try_map(|_| Err::<i32, ()>(())),
        Ok(Patch::Clear)
    );
    assert_eq!(Patch::Set(1).try_map(|_| Err::<i32, ()>(())), Err(()));
}

#[test]
fn patched_text_is_checked_and_blank_clears() {
    let text = |p| patch_text(p, "notes", 5);
    assert_eq!(text(Patch::Keep).unwrap(), Patch::Keep);
    assert_eq!(text(Patch::Clear).unwrap(), Patch::Clear);
    assert_eq!(text(Patch::Set("  ".into())).unwrap(), Patch::Clear);
    assert_eq!(
        text(Patch::Set(" ab ".into())).unwrap(),
        Patch::Set("ab".into())
    );
    assert!(text(Patch::Set("abcdef".into())).is_err());
    assert_eq!(
        patch_email(Patch::Set(" A@B.example ".into()), "email").unwrap(),
        Patch::Set("a@b.example".into())
    );
    assert!(patch_email(Patch::Set("nope".into()), "email").is_err());
}

#[test]
fn a_patch_documents_the_nullable_value() {
    use utoipa::PartialSchema;
    assert_eq!(
        serde_json::to_value(Patch::<String>::schema()).unwrap(),
        serde_json::to_value(Option::<String>::schema()).unwrap()
    );
}

#[test]
fn emails_are_normalised() {
    assert_eq!(
        Email::parse("  Ann@Example.COM ", "email")
            .unwrap()
            .as_str(),
        "ann@example.com"
    );
}

#[test]
fn invalid_emails_are_rejected() {
    for bad in ["", "ann", "ann@", "@example.com", "a b@example.com"] {
        assert!(Email::parse(bad, "email").is_err(), "{bad}");
    }
}

#[test]
fn names_are_trimmed_and_bounded() {
    assert_eq!(name("  Ann  ", "name", 200).unwrap(), "Ann");
    assert!(name("   ", "name", 200).is_err());
    assert!(name(&"x".repeat(201), "name", 200).is_err());
    assert!(name("a\u{0}b", "name", 200).is_err());
    assert!(
        name("\tAnn", "name", 200).is_err(),
        "control characters anywhere"
    );
    assert!(
        name(&format!(" {} ", "x".repeat(199)), "name", 200).is_err(),
        "counted as sent"
    );
}
