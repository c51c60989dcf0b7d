//! Games that ship with tickwire.

pub mod arena;

pub use arena::Arena;
