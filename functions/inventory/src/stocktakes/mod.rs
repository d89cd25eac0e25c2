//! Stocktakes and cycle counts: a snapshot of what a location should hold, the counts, and
//! one transaction that turns every difference into an `adjust` movement.

pub mod apply;
pub mod counts;
pub mod create;
pub mod due;
pub mod model;
