//! A page as the frontend serves it, on its origin (http://localhost:3000), opened in headless
//! Chromium; the page reports what it shows by POSTing to `/<what>` on its own server.

use std::process::Stdio;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::{get, post};
use tokio::sync::mpsc;

/// The frontend's origin, as CORS_ALLOWED_ORIGINS names it.
pub const ORIGIN: &str = "http://localhost:3000";

/// Chromium's path (`CHROMIUM`, else where Debian and Chrome put it); `None` when there is
/// none, which fails the test when `STOCKROOM_REQUIRE_BROWSER` is set (CI) and skips it
/// otherwise.
pub fn chromium() -> Option<String> {
    let found = std::env::var("CHROMIUM").ok().or_else(|| {
        [
            "/usr/bin/chromium",
            "/usr/bin/chromium-browser",
            "/usr/bin/google-chrome",
        ]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(str::to_owned)
    });
    if found.is_none() {
        // `make test` installs it where it can (scripts/tools.sh); CI requires it.
        assert!(
            std::env::var_os("STOCKROOM_REQUIRE_BROWSER").is_none(),
            "no Chromium here (set CHROMIUM, or apt-get install chromium)"
        );
        eprintln!("SKIPPED: no Chromium on this machine (apt-get install chromium)");
    }
    found
}

/// A page open in Chromium, closed when dropped.
pub struct Page {
    reports: mpsc::UnboundedReceiver<(String, String)>,
    browser: tokio::process::Child,
    profile: std::path::PathBuf,
}

impl Page {
    /// Serves `html` at [`ORIGIN`] and opens it in `chromium` with `#hash`.
    pub async fn open(chromium: &str, html: &'static str, hash: &str) -> Self {
        let (reports, received) = mpsc::unbounded_channel::<(String, String)>();
        let page = Router::new()
            .route("/", get(move || async move { Html(html) }))
            .route(
                "/{what}",
                post(
                    |State(reports): State<mpsc::UnboundedSender<(String, String)>>,
                     axum::extract::Path(what): axum::extract::Path<String>,
                     body: String| async move {
                        let _ = reports.send((what, body));
                    },
                ),
            )
            .with_state(reports);
        // Tests that open pages run one at a time (.config/nextest.toml): they share the port.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:3000")
            .await
            .expect("port 3000 (the frontend's origin) is free");
        tokio::spawn(async move { axum::serve(listener, page).await });
        let profile =
            std::env::temp_dir().join(format!("stockroom-chromium-{}", std::process::id()));
        let browser = tokio::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                &format!("--user-data-dir={}", profile.display()),
                &format!("{ORIGIN}/#{hash}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("Chromium starts");
        Self {
            reports: received,
            browser,
            profile,
        }
    }

    /// The page's next report: what, and its text (within a minute).
    pub async fn next(&mut self) -> (String, String) {
        tokio::time::timeout(Duration::from_secs(60), self.reports.recv())
            .await
            .expect("the page reports within a minute")
            .expect("the page's server runs")
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        let _ = self.browser.start_kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
