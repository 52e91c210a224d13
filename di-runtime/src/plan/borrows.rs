//! The start-time borrow check: two uses of one value conflict when one is exclusive and
//! both are alive at once.

use std::collections::HashMap;

use crate::contract::meta::{Access, ArgSource};
use crate::plan::node::Named;

/// One parameter's borrow of a value.
pub(crate) struct Borrow {
    pub(crate) slot: ArgSource,
    /// The dependency whose value is borrowed.
    pub(crate) of: Named,
    /// The borrowing function: its name and a number unique in the route.
    pub(crate) by: Named,
    pub(crate) by_id: usize,
    /// The borrowing parameter's name.
    pub(crate) param: &'static str,
    pub(crate) access: Access,
    pub(crate) role: Role,
}

/// How long a function keeps what it borrows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Only while it runs, during setup (before the handler); also a clone (`T`) by any
    /// function, made under a borrow that ends as the function starts.
    Plain,
    /// From its setup to its teardown (also a plain function that takes `Held`/`HeldMut`: it
    /// may keep the guard in its value).
    Generator,
    /// While the handler runs (and, for `Held`/`HeldMut`, while the body streams): after every
    /// other setup.
    Handler,
}

impl Borrow {
    /// The borrowing function and parameter, for messages: `` `h` (parameter `tx`) ``.
    fn who(&self) -> String {
        format!("{} (parameter `{}`)", self.by, self.param)
    }
}

/// Two borrows of one value conflict when one is exclusive and both are alive at once. A
/// plain function holds its borrows only while it runs, during setup; a generator from its
/// setup to its teardown; the handler while it runs, after every setup (and `Held`/`HeldMut`
/// borrows while the body streams). A by-value (`T`) use clones under a brief shared borrow
/// when its function starts.
pub(crate) fn check_borrows(borrows: &[Borrow], errors: &mut Vec<String>) {
    let mut by_slot: HashMap<usize, Vec<&Borrow>> = HashMap::new();
    for borrow in borrows {
        if let ArgSource::Slot(slot) = borrow.slot {
            by_slot.entry(slot).or_default().push(borrow);
        }
    }
    let mut slots: Vec<_> = by_slot.into_iter().collect();
    slots.sort_by_key(|(slot, _)| *slot);
    for (_, users) in slots {
        let exclusive: Vec<&&Borrow> = users.iter().filter(|b| b.access.is_exclusive()).collect();
        let Some(first) = exclusive.first() else {
            continue;
        };
        if exclusive.len() > 1 {
            errors.push(format!(
                "{} and {} both borrow the same value mutably (`&mut`) in one request; use `#[dep(f, fresh)]` for a second instance, or share it with `&`",
                first.who(),
                exclusive[1].who()
            ));
            continue;
        }
        let overlaps = |other: &Borrow| {
            if other.by_id == first.by_id {
                return true; // one function taking the value twice
            }
            match (first.role, other.role) {
                // A generator holds `&mut` from its setup on: every other use overlaps.
                (Role::Generator, _) => true,
                // The handler runs after every setup: only what is still held then overlaps.
                (Role::Handler, other) => other != Role::Plain,
                // A plain function may run while a generator holds the value.
                (Role::Plain, other) => other == Role::Generator,
            }
        };
        let conflict = users
            .iter()
            .find(|b| !b.access.is_exclusive() && overlaps(b));
        if let Some(other) = conflict {
            let kept = [first, other]
                .into_iter()
                .find(|b| b.role == Role::Generator && b.access.is_held());
            let why = match kept {
                Some(b) => format!(
                    " ({} takes it as `Held`/`HeldMut` and may keep it in its value, so it holds it until the request ends)",
                    b.who()
                ),
                None => String::new(),
            };
            errors.push(format!(
                "{} borrows a value mutably (`&mut`) while {} also borrows it; only one of them can hold it at a time; the value is {}{why}",
                first.who(),
                other.who(),
                first.of.possessive()
            ));
        }
    }
}
