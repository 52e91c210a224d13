//! Integration tests for `di` live in `tests/`.
