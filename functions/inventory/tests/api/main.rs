//! The inventory function's API tests, in one test binary: each module was a test binary of
//! its own.

mod costs;
mod lot_flows;
mod lots;
mod payments;
mod product_totals;
mod purchase_orders;
mod reservations;
mod second_person;
mod several_ids;
mod stock;
mod stocktakes;
mod support;
