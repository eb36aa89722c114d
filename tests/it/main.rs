//! Integration tests: the real `gphotosd` binary against the in-process emulator.

mod helpers;

mod auth;
mod chaos;
mod config_change;
mod crash;
mod faults;
mod gone;
mod inputs;
mod operate;
mod stalls;
mod sync;
mod verify;
mod watch;
mod watch_incomplete;
mod watch_unreadable;
