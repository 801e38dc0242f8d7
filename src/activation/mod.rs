//! Desktop activation (being written).
pub mod decision;
