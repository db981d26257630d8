//! API tests: the real server in-process on a random port, against the Hybris simulator and a
//! real database (a fresh SQLite file, or a fresh PostgreSQL database when `TEST_DATABASE_URL`
//! is set). One binary for all of them.

mod helpers;

mod abuse;
mod access;
mod architecture;
mod audit;
mod binary;
mod breaker;
mod deletion;
mod devices;
mod fuzz;
mod health;
mod hybris;
mod login;
mod metrics;
mod moto;
mod outbox;
mod partners;
mod phone;
mod phone_rules;
mod phone_senders;
mod read_cache;
mod refresh;
mod returning_login;
mod schema;
mod sessions;
mod sign_in;
mod social;
mod social_nonce;
mod upgrade;
