//! Examples for `di`; see the `[[example]]` targets.
