//! Helpers for the functions' tests (feature `test-util`): the state a function is tested with,
//! in-process requests to its router, people seeded straight into the test database, step-up
//! tokens, and the helper processes (an SMTP server, a local Secrets Manager and S3, a database
//! proxy that can be cut).

pub mod app;
pub mod browser;
pub mod files;
pub mod mail;
pub mod moto;
pub mod proxy;
pub mod seed;
pub mod state;
pub mod step_up;

pub use app::{
    Bearer, Call, TestApp, TestResponse, api_gateway_context, assert_problem, get, send,
};
pub use files::{TestBucket, send_form};
pub use mail::{
    ReceivedEmail, SmtpServer, mailed_token, mailed_token_with, queued_mail, queued_mail_with,
};
pub use moto::Moto;
pub use proxy::DbProxy;
pub use seed::{
    PASSWORD, Registered, also_member, invited, member, next_client_ip, person, register,
    session_token, totp_code,
};
pub use state::{
    database_url, login_url, pooler, settings, state, state_as, state_from, state_with,
};
pub use step_up::{action, claims_of, step_up_token, step_up_token_at, step_up_token_with};
