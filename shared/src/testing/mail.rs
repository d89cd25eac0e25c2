//! Mail in tests: a real SMTP server process, and the mail a function queued.

use sqlx::PgPool;

use super::state::settings;

/// A real SMTP server process (aiosmtpd) that stores what it receives in a maildir.
pub struct SmtpServer {
    child: std::process::Child,
    dir: std::path::PathBuf,
    pub port: u16,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A received email: headers and body as text.
#[derive(Debug, Clone)]
pub struct ReceivedEmail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

impl SmtpServer {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = std::env::temp_dir().join(format!("stockroom-smtp-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir for the maildir");
        let child = std::process::Command::new("aiosmtpd")
            .args([
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(dir.join("mail"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("aiosmtpd not found: `pip install aiosmtpd` (make test does it)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "aiosmtpd did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Self { child, dir, port }
    }

    /// `SMTP_URL` for this server.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The messages received once there are at least `count` (or after 5 s, however many):
    /// mail goes out after the response that queued it.
    pub async fn wait_for(&self, count: usize) -> Vec<ReceivedEmail> {
        for _ in 0..100 {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.messages()
    }

    /// The messages received after a moment in which more would have arrived: for "nothing
    /// (more) was sent".
    pub async fn settled(&self) -> Vec<ReceivedEmail> {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        self.messages()
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<ReceivedEmail> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("mail").join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .map(|raw| {
                let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
                let header = |name: &str| {
                    head.lines()
                        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                        .unwrap_or_default()
                        .to_owned()
                };
                let body = if header("Content-Transfer-Encoding")
                    .eq_ignore_ascii_case("quoted-printable")
                {
                    quoted_printable::decode(body.as_bytes(), quoted_printable::ParseMode::Robust)
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_else(|_| body.to_owned())
                } else {
                    body.to_owned()
                };
                ReceivedEmail {
                    to: header("To"),
                    subject: header("Subject"),
                    body,
                }
            })
            .collect()
    }
}

/// The mail queued for `recipient` so far, oldest first, with the text each would send (the
/// outbox's own choice, by whether the address has an account now), opened with the test keys;
/// a mail with nothing to send to that address is left out. For tests about what a request
/// mails, without a mail server: the sending itself is tested with one.
pub async fn queued_mail(pool: &PgPool, recipient: &str) -> Vec<crate::email::outbox::Text> {
    queued_mail_with(pool, recipient, &settings(&[]).keys.snapshot()).await
}

/// [`queued_mail`] sealed with `keys` (the functions' own, when they are not the test keys).
pub async fn queued_mail_with(
    pool: &PgPool,
    recipient: &str,
    keys: &crate::crypto::Keys,
) -> Vec<crate::email::outbox::Text> {
    let rows: Vec<(uuid::Uuid, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT o.id, stockroom_mail_message(o) FROM mail_outbox o
         WHERE lower(o.recipient) = lower($1) ORDER BY o.created_at, o.id",
    )
    .bind(recipient)
    .fetch_all(pool)
    .await
    .expect("the outbox reads");
    rows.into_iter()
        .filter_map(|(id, sealed)| {
            let json = keys
                .open(&sealed?, id.as_bytes())
                .expect("sealed with the test keys");
            Some(serde_json::from_slice(&json).expect("a mail's text"))
        })
        .collect()
}

/// The token of the last link to `path` (`/confirm-registration`, ...) in the mail queued for
/// `recipient`.
pub async fn mailed_token(pool: &PgPool, recipient: &str, path: &str) -> String {
    mailed_token_with(pool, recipient, path, &settings(&[]).keys.snapshot()).await
}

/// [`mailed_token`] sealed with `keys`.
pub async fn mailed_token_with(
    pool: &PgPool,
    recipient: &str,
    path: &str,
    keys: &crate::crypto::Keys,
) -> String {
    let needle = format!("{path}?token=");
    queued_mail_with(pool, recipient, keys)
        .await
        .iter()
        .rev()
        .find_map(|text| {
            let (_, after) = text.body.split_once(&needle)?;
            Some(after.split_whitespace().next()?.to_owned())
        })
        .unwrap_or_else(|| panic!("no mail to {recipient} with a link to {path}"))
}
