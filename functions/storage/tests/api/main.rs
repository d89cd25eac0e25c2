//! The storage function's integration tests: uploads against moto's S3, one test binary.

mod attachments;
mod support;
mod uploads;
