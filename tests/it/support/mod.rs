//! Helpers shared by the integration tests: the spawned server, seeders, external tools.
#![allow(dead_code)]

pub mod tools;
