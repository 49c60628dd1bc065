//! Object resolution without a future per field, for the types a nested read returns
//! by the thousand (teams, roles, runs, steps).
//!
//! async-graphql resolves every field of an object as its own boxed future, run in a
//! `FuturesUnordered` of its own: for a page of 25 teams with their runs and steps that
//! is ~8,000 allocations, task nodes and wake-ups per response, most of the request's
//! time. [`Eager`] resolves its object's leaf fields in place, one after another (they
//! read the row already in hand), and only the fields with a selection set (relations,
//! which wait on loaders) side by side, so one level's loader batches still gather
//! every key. The response is the same: fields in selection order, a selected field
//! twice merged, a field's error recorded and the field left out.
//!
//! Selections this does not cover (fragments on another type, any directive, `@skip`
//! and `@include` included) go through async-graphql's own resolution.
//!
//! The price: a leaf that waits on a loader (a team's `roleCount`) is awaited in turn,
//! so a selection with it and a relation of the same loader (`roles { ... }`) reads
//! in two batches where it read in one.

use std::borrow::Cow;
use std::cell::RefCell;
use std::hash::{BuildHasher, RandomState};
use std::sync::LazyLock;

use async_graphql::indexmap::IndexMap;
use async_graphql::indexmap::map::{Entry, RawEntryApiV1, raw_entry_v1::RawEntryMut};
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::{ContainerType, resolve_container};
use async_graphql::{ContextSelectionSet, Name, OutputType, Positioned, ServerResult, Value};
use futures_util::future::join_all;

/// `T` in the schema, resolved without a future per field. This relies on the schema
/// having no extensions (see `build`): extensions would see each field through their
/// `resolve` hook, which this path does not call.
#[repr(transparent)]
pub struct Eager<T>(pub T);

impl<T> Eager<T> {
    /// Wraps each of `items`.
    pub fn all(items: Vec<T>) -> Vec<Eager<T>> {
        items.into_iter().map(Eager).collect()
    }
}

impl<T: ContainerType + Sync> OutputType for Eager<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn introspection_type_name(&self) -> Cow<'static, str> {
        self.0.introspection_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let mut fields = Vec::with_capacity(ctx.item.node.items.len());
        if !plain_fields::<T>(ctx, &ctx.item.node, &mut fields) {
            return resolve_container(ctx, &self.0).await;
        }
        Ok(resolve_fields(ctx, &self.0, &fields).await)
    }
}

/// Collects the fields `selection` asks of a `T`, through fragments on `T` itself;
/// false when it holds anything else (then async-graphql resolves it).
fn plain_fields<'a, T: OutputType>(
    ctx: &ContextSelectionSet<'a>,
    selection: &'a SelectionSet,
    fields: &mut Vec<&'a Positioned<Field>>,
) -> bool {
    for item in &selection.items {
        let nested = match &item.node {
            Selection::Field(field) => {
                if !field.node.directives.is_empty() {
                    return false;
                }
                fields.push(field);
                continue;
            }
            Selection::FragmentSpread(spread) => {
                match ctx.query_env.fragments.get(&spread.node.fragment_name.node) {
                    Some(fragment)
                        if fragment.node.type_condition.node.on.node == *T::type_name() =>
                    {
                        &fragment.node.selection_set.node
                    }
                    _ => return false,
                }
            }
            Selection::InlineFragment(fragment) => match &fragment.node.type_condition {
                Some(condition) if condition.node.on.node != *T::type_name() => return false,
                _ => &fragment.node.selection_set.node,
            },
        };
        if !item.node.directives().is_empty() || !plain_fields::<T>(ctx, nested, fields) {
            return false;
        }
    }
    true
}

/// `fields` of `root`: leaves one after another, then the relations side by side, the
/// answer in selection order.
async fn resolve_fields<'a, T: ContainerType + Sync>(
    ctx: &ContextSelectionSet<'a>,
    root: &'a T,
    fields: &[&'a Positioned<Field>],
) -> Value {
    let resolve = |field: &'a Positioned<Field>| async move {
        if field.node.name.node == "__typename" {
            return Ok(Some(Value::String(
                root.introspection_type_name().into_owned(),
            )));
        }
        root.resolve_field(&ctx.with_field(field)).await
    };

    let mut results: Vec<Option<ServerResult<Option<Value>>>> = Vec::with_capacity(fields.len());
    let mut relations = Vec::new();
    for (index, field) in fields.iter().enumerate() {
        if field.node.selection_set.node.items.is_empty() {
            results.push(Some(resolve(field).await));
        } else {
            results.push(None);
            relations.push(index);
        }
    }
    match relations.as_slice() {
        [] => {}
        [only] => results[*only] = Some(resolve(fields[*only]).await),
        _ => {
            let resolved = join_all(relations.iter().map(|&index| resolve(fields[index]))).await;
            for (index, result) in relations.into_iter().zip(resolved) {
                results[index] = Some(result);
            }
        }
    }

    let mut object = IndexMap::with_capacity_and_hasher(fields.len(), KEY_HASHER.clone());
    for (field, result) in fields.iter().zip(results) {
        match result {
            Some(Ok(value)) => insert_value(
                &mut object,
                field.node.response_key().node.clone(),
                value.unwrap_or_default(),
            ),
            Some(Err(error)) => ctx.add_error(error),
            None => {}
        }
    }
    if object.is_empty() {
        Value::Null
    } else {
        Value::Object(object)
    }
}

/// The hasher state of every object this module builds. The response's maps are
/// `IndexMap<Name, Value>` with std's `RandomState`, which draws new keys for each map,
/// so each of a response's ~8,000 fields hashed its name anew; one state for all of them
/// lets a name's hash be computed once and reused ([`key_hash`]). The keys are still
/// random per process.
static KEY_HASHER: LazyLock<RandomState> = LazyLock::new(RandomState::new);

/// Slots of each thread's cache of response-key hashes, a power of two ([`key_hash`]
/// picks a pair of slots by the top bits of a product): a selection has a few dozen
/// distinct response keys, and two hot keys sharing one slot would miss on every
/// object, so the slots are many and each key may take either of its pair.
const KEY_HASH_SLOTS: usize = 1 << 8;

thread_local! {
    /// Response keys seen lately on this thread, with their hash under [`KEY_HASHER`], by the
    /// address of the key's text. The cache holds each key it stores, so an address it
    /// finds still belongs to that same key (a document's keys are shared by every
    /// object resolved with it).
    static KEY_HASHES: RefCell<[Option<(Name, u64)>; KEY_HASH_SLOTS]> =
        const { RefCell::new([const { None }; KEY_HASH_SLOTS]) };
}

/// `name`'s hash under [`KEY_HASHER`].
fn key_hash(name: &Name) -> u64 {
    let text = name.as_str();
    // Fibonacci hashing of the address: a document's keys sit a few small allocations
    // apart, which the address's low bits alone map to too few slots.
    let first = ((text.as_ptr() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        >> (u64::BITS - KEY_HASH_SLOTS.trailing_zeros())) as usize;
    let pair = [first, first ^ 1];
    KEY_HASHES.with_borrow_mut(|cache| {
        for slot in pair {
            if let Some((cached, hash)) = &cache[slot]
                && std::ptr::eq(cached.as_str(), text)
            {
                return *hash;
            }
        }
        let hash = KEY_HASHER.hash_one(name);
        let slot = if cache[first].is_none() {
            first
        } else {
            first ^ 1
        };
        cache[slot] = Some((name.clone(), hash));
        hash
    })
}

/// A field selected more than once answers once, its selections merged (as
/// async-graphql's own resolution does). `object` is one [`resolve_fields`] built, hashing
/// with [`KEY_HASHER`].
fn insert_value(object: &mut IndexMap<Name, Value>, name: Name, value: Value) {
    let hash = key_hash(&name);
    match object
        .raw_entry_mut_v1()
        .from_hash(hash, |key| *key == name)
    {
        RawEntryMut::Vacant(vacant) => {
            vacant.insert_hashed_nocheck(hash, name, value);
        }
        RawEntryMut::Occupied(occupied) => merge(occupied.into_mut(), value),
    }
}

/// Merges a selected-again field's `value` into its `previous` answer. The objects in
/// them may come from async-graphql's own resolution, each with its own hasher, so this
/// inserts by the map's own hashing.
fn merge(previous: &mut Value, value: Value) {
    match (previous, value) {
        (Value::Object(previous), Value::Object(value)) => merge_fields(previous, value),
        (Value::List(previous), Value::List(value)) => {
            for (previous, value) in previous.iter_mut().zip(value) {
                if let (Value::Object(previous), Value::Object(value)) = (previous, value) {
                    merge_fields(previous, value);
                }
            }
        }
        _ => {}
    }
}

fn merge_fields(previous: &mut IndexMap<Name, Value>, value: IndexMap<Name, Value>) {
    for (key, value) in value {
        match previous.entry(key) {
            Entry::Vacant(vacant) => {
                vacant.insert(value);
            }
            Entry::Occupied(occupied) => merge(occupied.into_mut(), value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object_of(keys: &[Name]) -> IndexMap<Name, Value> {
        let mut object = IndexMap::with_capacity_and_hasher(keys.len(), KEY_HASHER.clone());
        for (index, key) in keys.iter().enumerate() {
            insert_value(&mut object, key.clone(), Value::from(index as i32));
        }
        object
    }

    #[test]
    fn kept_hashes_agree_with_the_maps_own() {
        let keys: Vec<Name> = ["id", "name", "cost", "id"].map(Name::new).to_vec();
        // The second object finds every key's hash in the thread's cache.
        for _ in 0..2 {
            let object = object_of(&keys);
            assert_eq!(
                object.keys().map(Name::as_str).collect::<Vec<_>>(),
                ["id", "name", "cost"]
            );
            assert_eq!(
                object.get("id"),
                Some(&Value::from(0)),
                "a repeated leaf keeps its first answer"
            );
            assert_eq!(object.get("name"), Some(&Value::from(1)));
            assert_eq!(object.get("cost"), Some(&Value::from(2)));
        }
        // The same text in another allocation (another document) is the same key.
        let again = object_of(&[Name::new("cost"), Name::new("cost")]);
        assert_eq!(again.len(), 1);
        assert_eq!(again.get("cost"), Some(&Value::from(0)));
    }

    #[test]
    fn keys_of_dropped_documents_are_not_mistaken_for_new_ones() {
        // Many short-lived keys: slots are reused, and a new key must never be given a
        // hash cached for another text. Two keys per object: indexmap looks a lone key up
        // without hashing.
        let id = Name::new("id");
        for round in 0..2_000 {
            let key = Name::new(format!("field{round}"));
            let object = object_of(&[id.clone(), key.clone()]);
            assert_eq!(object.get(key.as_str()), Some(&Value::from(1)), "{key}");
        }
    }
}
