//! Tests only: the repository's policies, checked against the product. See `tests/main.rs`.
