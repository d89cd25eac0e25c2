//! A TCP proxy in front of the test database that can be cut and restored: a failover, a
//! restart or a network partition, as the functions see one.

use sqlx::PgPool;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::AppState;

pub struct DbProxy {
    /// Where the proxy listens, on 127.0.0.1.
    pub port: u16,
    up: watch::Sender<bool>,
}

impl DbProxy {
    /// A proxy to the server of `pool`.
    pub async fn to(pool: &PgPool) -> Self {
        let options = pool.connect_options();
        let target = (options.get_host().to_owned(), options.get_port());
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the proxy");
        let port = listener.local_addr().expect("its address").port();
        let (up, up_rx) = watch::channel(true);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut up_rx = up_rx.clone();
                if !*up_rx.borrow() {
                    continue; // dropped: the client sees the connection close at once
                }
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = up_rx.wait_for(|up| !*up) => {} // going down cuts live connections too
                    }
                });
            }
        });
        Self { port, up }
    }

    /// Closes every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    pub fn restore(&self) {
        self.up.send_replace(true);
    }

    /// `state` with its database connections (same login, same database) through the proxy.
    pub fn route(&self, state: &AppState) -> AppState {
        let options = state
            .pool
            .connect_options()
            .as_ref()
            .clone()
            .host("127.0.0.1")
            .port(self.port);
        let settings = (*state.settings).clone();
        let pool = crate::db::pool_with(options, &settings);
        AppState::new(settings, pool).expect("test settings are valid")
    }
}
