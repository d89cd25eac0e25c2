//! A file's name as the person who sent it named it: checked when an upload is asked for, and
//! given back in a download's `Content-Disposition`.

/// The longest name kept, in characters.
pub const MAX_FILENAME_CHARS: usize = 255;

/// What [`check`] accepts, as the OpenAPI document says it (`format = "filename"` in a schema):
/// one line with something visible in it, no control characters, no `/ \ " < > \``.
pub const FILENAME_PATTERN: &str = concat!(
    r#"^[^\x00-\x1F\x7F-\x9F/\\"<>`]*"#,
    r#"[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000/\\"<>`]"#,
    r#"[^\x00-\x1F\x7F-\x9F/\\"<>`]*$"#
);

/// Why a name is refused: the problem's `code` and message for the field.
pub fn check(name: &str) -> Result<&str, (&'static str, String)> {
    let name = name.trim();
    if name.is_empty() {
        return Err(("required", "name the file".into()));
    }
    if name.chars().count() > MAX_FILENAME_CHARS {
        return Err((
            "too_long",
            format!("at most {MAX_FILENAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err((
            "invalid_filename",
            "a file name cannot hold control characters (newlines, tabs)".into(),
        ));
    }
    if name.contains(['/', '\\']) {
        return Err((
            "invalid_filename",
            "a file name, not a path: no / or \\".into(),
        ));
    }
    if name.contains(['"', '<', '>', '`']) {
        return Err((
            "invalid_filename",
            "a file name cannot hold \" < > or `".into(),
        ));
    }
    Ok(name)
}

/// `Content-Disposition` that downloads a file as `name` (already [`check`]ed): an ASCII
/// fallback for old clients and the name itself UTF-8, percent-encoded (RFC 6266, RFC 8187).
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' && c != '%' => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        match byte {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'!'
            | b'#'
            | b'$'
            | b'&'
            | b'+'
            | b'-'
            | b'.'
            | b'^'
            | b'_'
            | b'`'
            | b'|'
            | b'~' => encoded.push(char::from(byte)),
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::{check, content_disposition};

    #[test]
    fn names_that_are_paths_markup_or_lines_are_refused() {
        for bad in [
            "../../etc/passwd",
            "a/b.pdf",
            "a\\b.pdf",
            "in\"voice.pdf",
            "line\nbreak.pdf",
            "tab\t.pdf",
            "<script>.png",
            "",
            "   ",
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check(&"a".repeat(300)).unwrap_err().0, "too_long");
        assert_eq!(check(&"é".repeat(255)).map(str::len), Ok(510));
        assert_eq!(
            check(" Bob's invoice (2).pdf "),
            Ok("Bob's invoice (2).pdf")
        );
    }

    #[test]
    fn a_download_keeps_the_name_safely_encoded() {
        assert_eq!(
            content_disposition("Rechnung März; 2026.pdf"),
            "attachment; filename=\"Rechnung M_rz; 2026.pdf\"; \
             filename*=UTF-8''Rechnung%20M%C3%A4rz%3B%202026.pdf"
        );
        assert_eq!(
            content_disposition("100%.png"),
            "attachment; filename=\"100_.png\"; filename*=UTF-8''100%25.png"
        );
    }
}
