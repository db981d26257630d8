//! Adapters: the ports implemented over real technologies.

pub mod algolia;
pub mod eventbridge;
pub mod hybris;
pub mod log_sink;
pub mod rate_counter;
pub mod sms;
pub mod social;
