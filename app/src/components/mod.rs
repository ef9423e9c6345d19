//! Pieces several pages share.

pub mod badges;
pub mod browser;
pub mod fields;
pub mod layout;
pub mod live;
pub mod loan_table;
pub mod notice;
pub mod timeline;
