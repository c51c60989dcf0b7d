//! Client libraries, for tools and for anyone embedding tickwire in a launcher.

pub mod lobby;
