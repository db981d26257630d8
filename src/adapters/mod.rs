//! Adapters: the ports implemented over real technologies.

pub mod hybris;
