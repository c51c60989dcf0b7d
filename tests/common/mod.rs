//! Shared integration-test harnesses.
#![allow(dead_code)]

pub mod lobby;
