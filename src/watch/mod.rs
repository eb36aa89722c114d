//! Finding files: the reconciling [`scan`] of every watched folder and the [`filter`] that
//! decides what is media.

pub mod filter;
pub mod scan;
