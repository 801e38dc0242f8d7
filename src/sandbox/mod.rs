//! A local stand-in for Maton in front of Gumroad API v2 (placeholder; being written).
