//! Gumgate: a license gateway for software sold on Gumroad, in front of Maton's managed-OAuth
//! proxy. The binary (`main.rs`) only parses the command line; everything else lives here so
//! that the tests drive the real application.

pub mod params;
pub mod sandbox;
