//! The run directory's files, read by header name with positioned errors. Imports only the
//! model.

pub mod rundir;
pub(crate) mod table;
