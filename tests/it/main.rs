//! Integration tests: the real `gphotosd` binary against the in-process emulator.

mod helpers;

mod crash;
mod faults;
mod inputs;
mod sync;
