//! The slots an instance the harness runs lives in: `production` serves, `staging` is where
//! a swap warms the next version up. The ledger's `slot` column names them.

pub const PRODUCTION: &str = "production";
pub const STAGING: &str = "staging";
