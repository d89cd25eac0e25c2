//! A local Secrets Manager (and S3, SQS) for tests: moto's server process.

/// A local Secrets Manager (and S3) API: moto's server, stopped when dropped.
pub struct Moto {
    child: std::process::Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts `moto_server` on a free port and waits until it answers.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`Moto::start`] with moto's own settings (`INITIAL_NO_AUTH_ACTION_COUNT`, ...).
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto_server not found: `pip install 'moto[server]'` (make test does it)");
        let moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "moto_server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        moto
    }

    /// Points the AWS SDK of this process at it (region, test credentials, endpoints), as the
    /// SDK reads them in Lambda. Call before anything else in the test binary reads the
    /// environment.
    pub fn use_from_this_process(&self) {
        // SAFETY: called at the start of a test binary's only test, before other threads read
        // the environment.
        unsafe {
            std::env::set_var("AWS_ENDPOINT_URL_SECRETS_MANAGER", &self.endpoint);
            std::env::set_var("AWS_ENDPOINT_URL_S3", &self.endpoint);
            std::env::set_var("AWS_ENDPOINT_URL_SQS", &self.endpoint);
            std::env::set_var("AWS_REGION", "eu-west-1");
            std::env::set_var("AWS_ACCESS_KEY_ID", "test");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        }
    }
}
