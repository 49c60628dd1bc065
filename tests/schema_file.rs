//! The committed `schema.graphql` is what the code produces, and it describes everything
//! in it: generated clients show these descriptions to frontend engineers.

use async_graphql::parser::types::{
    FieldDefinition, InputValueDefinition, TypeKind, TypeSystemDefinition,
};
use async_graphql::parser::{Positioned, parse_schema};

#[test]
fn schema_graphql_is_current() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql exists at the repository root");
    let generated = gateway::graphql::sdl();
    assert!(
        committed == generated,
        "schema.graphql is stale: regenerate it with `cargo run -- schema > schema.graphql`"
    );
}

/// Directives the GraphQL spec defines: async-graphql adds them with its own text and
/// leaves their arguments undescribed, out of this crate's reach.
const SPEC_DIRECTIVES: &[&str] = &["include", "skip", "specifiedBy", "deprecated", "oneOf"];

fn described(description: &Option<Positioned<String>>) -> bool {
    description
        .as_ref()
        .is_some_and(|d| !d.node.trim().is_empty())
}

fn check_arguments(
    owner: &str,
    arguments: &[Positioned<InputValueDefinition>],
    missing: &mut Vec<String>,
) {
    for argument in arguments {
        if !described(&argument.node.description) {
            missing.push(format!("argument {owner}({}:)", argument.node.name.node));
        }
    }
}

fn check_fields(owner: &str, fields: &[Positioned<FieldDefinition>], missing: &mut Vec<String>) {
    for field in fields {
        let path = format!("{owner}.{}", field.node.name.node);
        if !described(&field.node.description) {
            missing.push(format!("field {path}"));
        }
        check_arguments(&path, &field.node.arguments, missing);
    }
}

#[test]
fn schema_describes_every_type_field_argument_and_value() {
    let document = parse_schema(gateway::graphql::sdl()).expect("the SDL parses");
    let mut missing = Vec::new();
    for definition in &document.definitions {
        match definition {
            TypeSystemDefinition::Schema(_) => {}
            TypeSystemDefinition::Directive(directive) => {
                let name = directive.node.name.node.as_str();
                if SPEC_DIRECTIVES.contains(&name) {
                    continue;
                }
                if !described(&directive.node.description) {
                    missing.push(format!("directive @{name}"));
                }
                check_arguments(&format!("@{name}"), &directive.node.arguments, &mut missing);
            }
            TypeSystemDefinition::Type(ty) => {
                let name = ty.node.name.node.as_str();
                if !described(&ty.node.description) {
                    missing.push(format!("type {name}"));
                }
                match &ty.node.kind {
                    TypeKind::Scalar | TypeKind::Union(_) => {}
                    TypeKind::Object(object) => check_fields(name, &object.fields, &mut missing),
                    TypeKind::Interface(interface) => {
                        check_fields(name, &interface.fields, &mut missing)
                    }
                    TypeKind::Enum(enumeration) => {
                        for value in &enumeration.values {
                            if !described(&value.node.description) {
                                missing
                                    .push(format!("enum value {name}.{}", value.node.value.node));
                            }
                        }
                    }
                    TypeKind::InputObject(input) => {
                        for field in &input.fields {
                            if !described(&field.node.description) {
                                missing
                                    .push(format!("input field {name}.{}", field.node.name.node));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} schema items have no description (a `///` doc comment gives one; an argument \
         takes `#[graphql(desc = \"...\")]`; a connection type is described in \
         `describe_generated_types`, src/graphql/mod.rs):\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
}
