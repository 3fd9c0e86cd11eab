//! Payload encodings, each matching what PHP code sends today.

pub mod form;
pub mod json;
pub mod php_float;
