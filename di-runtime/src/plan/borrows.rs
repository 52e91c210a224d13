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
/// when its function starts. `set_up_at`: where each borrowing function (by its number) is
/// set up among the route's setups, which run one after the other.
pub(crate) fn check_borrows(
    borrows: &[Borrow],
    set_up_at: &HashMap<usize, usize>,
    errors: &mut Vec<String>,
) {
    let mut by_slot: HashMap<usize, Vec<&Borrow>> = HashMap::new();
    for borrow in borrows {
        if let ArgSource::Slot(slot) = borrow.slot {
            by_slot.entry(slot).or_default().push(borrow);
        }
    }
    let mut slots: Vec<_> = by_slot.into_iter().collect();
    slots.sort_by_key(|(slot, _)| *slot);
    for (_, users) in slots {
        let conflict = users.iter().enumerate().find_map(|(at, first)| {
            if !first.access.is_exclusive() {
                return None;
            }
            users
                .iter()
                .enumerate()
                .find(|&(other_at, other)| other_at != at && overlap(first, other, set_up_at))
                .map(|(_, other)| (*first, *other))
        });
        let Some((first, other)) = conflict else {
            continue;
        };
        if other.access.is_exclusive() {
            let why = why_held(first, other, true);
            errors.push(format!(
                "{} and {} both borrow the same value mutably (`&mut`) at once; only one of them can hold it at a time; the value is {}{why}; use `#[dep(f, fresh)]` only if each needs an instance of its own",
                first.who(),
                other.who(),
                first.of.possessive()
            ));
        } else {
            let why = why_held(first, other, false);
            errors.push(format!(
                "{} borrows a value mutably (`&mut`) while {} also borrows it; only one of them can hold it at a time; the value is {}{why}",
                first.who(),
                other.who(),
                first.of.possessive()
            ));
        }
    }
}

/// Whether two borrows of one value are alive at once: setups run one after the other, in
/// the order `set_up_at` gives, and the handler after all of them.
fn overlap(a: &Borrow, b: &Borrow, set_up_at: &HashMap<usize, usize>) -> bool {
    if a.by_id == b.by_id {
        return true; // one function taking the value twice
    }
    // A plain function set up before a generator has returned, its borrow ended, before the
    // generator starts (it may be one of the generator's own dependencies).
    let before = |plain: &Borrow, generator: &Borrow| {
        matches!(
            (set_up_at.get(&plain.by_id), set_up_at.get(&generator.by_id)),
            (Some(plain), Some(generator)) if plain < generator
        )
    };
    match (a.role, b.role) {
        (Role::Plain, Role::Generator) => !before(a, b),
        (Role::Generator, Role::Plain) => !before(b, a),
        // A generator holds what it borrows from its setup to its teardown.
        (Role::Generator, _) | (_, Role::Generator) => true,
        // A plain function's borrow ends when it returns, before the next function starts.
        (Role::Plain, _) | (_, Role::Plain) => false,
        // Two uses by the handler are one function's (above).
        (Role::Handler, Role::Handler) => true,
    }
}

/// Why the generator of two conflicting borrows holds the value, for the message: when it may
/// keep a `Held`/`HeldMut` in its value, and with `generator`, when it borrows `&mut`.
fn why_held(a: &Borrow, b: &Borrow, generator: bool) -> String {
    if a.by_id == b.by_id {
        return String::new();
    }
    match [a, b].into_iter().find(|b| b.role == Role::Generator) {
        Some(b) if b.access.is_held() => format!(
            " ({} takes it as `Held`/`HeldMut` and may keep it in its value, so it holds it until the request ends)",
            b.who()
        ),
        Some(b) if generator && b.access.is_exclusive() => format!(
            " ({} is a generator: it holds it from its setup to its teardown)",
            b.by
        ),
        _ => String::new(),
    }
}
