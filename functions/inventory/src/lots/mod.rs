//! Lots, serial numbers and expiry dates: how a tracked product's units come in and go out
//! (`stock`), the request fields that name them (`input`), where a lot went (`trace`) and
//! what expires soon (`expiring`).

pub mod expiring;
pub mod input;
pub mod stock;
pub mod trace;
