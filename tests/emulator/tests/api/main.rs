//! The emulator's specification, as tests: every rule it enforces is exercised by a real
//! HTTP client sending a request that breaks it, plus the happy paths a correct client
//! takes. Each test starts its own emulator on port 0.

mod helpers;

mod albums;
mod batch_create;
mod deletion;
mod faults;
mod happy;
mod oauth;
mod quotas;
mod reads;
mod resumable;
mod uploads;
