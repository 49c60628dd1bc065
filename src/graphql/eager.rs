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
//! Selections this does not cover (fragments on another type, custom directives) go
//! through async-graphql's own resolution.
//!
//! The price: a leaf that waits on a loader (a team's `roleCount`) is awaited in turn,
//! so a selection with it and a relation of the same loader (`roles { ... }`) reads
//! in two batches where it read in one.

use std::borrow::Cow;

use async_graphql::indexmap::IndexMap;
use async_graphql::indexmap::map::Entry;
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

    let mut object = IndexMap::with_capacity(fields.len());
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

/// A field selected more than once answers once, its selections merged (as
/// async-graphql's own resolution does).
fn insert_value(object: &mut IndexMap<Name, Value>, name: Name, value: Value) {
    // One hash of the name per field: a response has thousands of them.
    let previous = match object.entry(name) {
        Entry::Vacant(vacant) => {
            vacant.insert(value);
            return;
        }
        Entry::Occupied(occupied) => occupied.into_mut(),
    };
    match (previous, value) {
        (Value::Object(previous), Value::Object(value)) => {
            for (key, value) in value {
                insert_value(previous, key, value);
            }
        }
        (Value::List(previous), Value::List(value)) => {
            for (previous, value) in previous.iter_mut().zip(value) {
                if let (Value::Object(previous), Value::Object(value)) = (previous, value) {
                    for (key, value) in value {
                        insert_value(previous, key, value);
                    }
                }
            }
        }
        _ => {}
    }
}
