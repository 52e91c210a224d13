//! The path parameters' [`Layout`]: besides a map or struct by name, a tuple in order
//! ([`Positional`]), or, when the route has one parameter, a single value.
//!
//! Uses [`root`](super::root), [`text`](super::text) and [`problem`](super::problem).

use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};

use super::problem::Error;
use super::root::{Layout, Root};
use super::text::TextValue;

/// How the message of a `Path<T>` that does not fit its route's parameters goes on (`expected
/// 2 path parameters, the route has 1`): the app's mistake, not the client's, which
/// [`misfit_path`](super::misfit_path) tells from bad input by it.
pub(super) const ROUTE_HAS: &str = ", the route has ";

/// A route's path parameters, by name at the [`Root`].
pub(super) struct PathLayout;

impl<'s> Layout<'s> for PathLayout {
    fn seq<'de, V: Visitor<'de>>(root: Root<'s, Self>, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(Positional {
            groups: root.groups.iter(),
            root: &root,
        })
    }

    fn tuple<'de, V: Visitor<'de>>(
        root: Root<'s, Self>,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if len != root.groups.len() {
            return Err(de::Error::custom(format!(
                "expected {len} path parameters{ROUTE_HAS}{}",
                root.groups.len()
            )));
        }
        Self::seq(root, visitor)
    }

    /// The only parameter.
    fn single(root: &Root<'s, Self>) -> Result<Option<TextValue<'s>>, Error> {
        match root.groups {
            [only] => Ok(Some(root.value(*only))),
            _ => Err(de::Error::custom(format!(
                "expected 1 path parameter{ROUTE_HAS}{}",
                root.groups.len()
            ))),
        }
    }
}

/// The path parameters in order, each located by its name.
struct Positional<'r, 's> {
    groups: std::slice::Iter<'s, (&'s str, &'s [&'s str])>,
    root: &'r Root<'s, PathLayout>,
}

impl<'de> SeqAccess<'de> for Positional<'_, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(group) = self.groups.next() else {
            return Ok(None);
        };
        let value = self.root.value(*group);
        let place = value.place;
        seed.deserialize(value)
            .map(Some)
            .map_err(|e| place.locate(e))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.groups.len())
    }
}
