//! The cache's copies of sessions and users, bounded by the bytes they hold rather than by
//! their number: what one entry takes depends on what the member's app sent.

use std::collections::HashMap;

use uuid::Uuid;

use crate::domain::{Session, User};

/// Bytes a map of copies may hold before it is emptied: the bound on the cache's memory,
/// whatever the entries carry. Counted in bytes, not entries: a session's device fields alone
/// may take 19 KB (`Device::parse` bounds), so a cap of 100,000 sessions let one member with a
/// script and long push tokens grow the process by 1.9 GB. About 10,000 sessions or users of
/// the usual size fit (~400 bytes each).
pub(super) const BUDGET_BYTES: usize = 4 << 20;

/// Copies of one kind with the epoch each was read at, within [`BUDGET_BYTES`]. Boxed, so the
/// table's slots stay small and the count of bytes is the heap's.
pub(super) struct Copies<V> {
    pub(super) entries: HashMap<Uuid, Box<(V, u64)>>,
    pub(super) bytes: usize,
}

impl<V> Default for Copies<V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            bytes: 0,
        }
    }
}

impl<V: Footprint + Clone> Copies<V> {
    pub(super) fn get(&self, id: &Uuid) -> Option<&(V, u64)> {
        self.entries.get(id).map(|entry| &**entry)
    }

    /// Stores a copy of `value`, emptying the map first if it would pass the budget.
    pub(super) fn insert(&mut self, id: Uuid, value: &V, epoch: u64) {
        self.remove(&id);
        // Counted on the copy kept, as `remove` counts it: a clone's vectors hold no spare
        // capacity, the original's may.
        let copy = value.clone();
        let bytes = entry_bytes(&copy);
        if self.bytes + bytes > BUDGET_BYTES {
            self.clear();
        }
        self.entries.insert(id, Box::new((copy, epoch)));
        self.bytes += bytes;
    }

    pub(super) fn remove(&mut self, id: &Uuid) {
        if let Some(old) = self.entries.remove(id) {
            self.bytes -= entry_bytes(&old.0);
        }
    }

    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

/// The bytes an entry takes: its slot in the table, its box, and what its strings hold (a
/// clone's strings are allocated at their length).
pub(super) fn entry_bytes<V: Footprint>(value: &V) -> usize {
    std::mem::size_of::<(Uuid, Box<(V, u64)>)>()
        + std::mem::size_of::<(V, u64)>()
        + value.heap_bytes()
}

/// Heap bytes owned by a value, beyond its own size.
pub(super) trait Footprint {
    fn heap_bytes(&self) -> usize;
}

fn string_bytes<'a>(strings: impl IntoIterator<Item = &'a Option<String>>) -> usize {
    strings.into_iter().flatten().map(String::len).sum()
}

impl Footprint for Session {
    fn heap_bytes(&self) -> usize {
        let d = &self.device;
        string_bytes([
            &d.device_id,
            &d.device_name,
            &d.platform,
            &d.platform_version,
            &d.app_version,
            &d.push_token,
        ])
    }
}

impl Footprint for User {
    fn heap_bytes(&self) -> usize {
        let membership = self.membership.as_ref().map_or(0, |m| {
            m.number.len() + m.chapter.as_ref().map_or(0, String::len)
        });
        let roles = self.upstream_roles.capacity() * std::mem::size_of::<String>()
            + self.upstream_roles.iter().map(String::len).sum::<usize>();
        self.email.as_str().len()
            + string_bytes([&self.first_name, &self.last_name])
            + membership
            + roles
            + self.phone.as_ref().map_or(0, |p| p.number.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Email, UserId};

    /// A user whose roles vector has spare capacity, as one built by pushing has: its copy has
    /// none, and the count must be the copy's, or replacing it would leave bytes behind.
    #[test]
    fn the_bytes_counted_are_the_kept_copys_so_a_replaced_entry_leaves_none_behind() {
        let mut roles = Vec::with_capacity(64);
        roles.push("member".to_owned());
        let now = chrono::Utc::now();
        let user = User {
            id: UserId(Uuid::now_v7()),
            email: Email::parse("anna@example.org").unwrap(),
            first_name: None,
            last_name: None,
            membership: None,
            created_at: now,
            updated_at: now,
            last_login_at: None,
            upstream_roles: roles,
            phone: None,
        };
        let mut copies = Copies::default();
        for _ in 0..3 {
            copies.insert(user.id.0, &user, 1);
        }
        let held: usize = copies.entries.values().map(|e| entry_bytes(&e.0)).sum();
        assert_eq!(copies.bytes, held);
        copies.remove(&user.id.0);
        assert_eq!(copies.bytes, 0);
    }
}
