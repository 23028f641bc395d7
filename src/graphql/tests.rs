use super::*;

/// GraphiQL's introspection query (trimmed of descriptions), the deepest query a
/// legitimate client sends: it must pass the limits.
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name
  fields(includeDeprecated: true) { name args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}
"#;

#[tokio::test]
async fn introspection_passes_the_limits() {
    let res = schema().execute(INTROSPECTION).await;
    assert!(res.errors.is_empty(), "{:?}", res.errors);
    let sdl = schema().sdl();
    for name in [
        "type Torrent",
        "type User",
        "type Statistics",
        "torrents(",
        "trackerStats",
        "type CatalogEntry",
        "catalogSearch(",
    ] {
        assert!(sdl.contains(name), "{name} missing from the schema:\n{sdl}");
    }
}

#[tokio::test]
async fn a_query_nested_too_deep_is_refused_before_it_runs() {
    // No services in the request: validation must refuse it before any resolver runs.
    // One field per level and no lists, so only the depth can be what is refused.
    let deep = format!(
        "{{ __schema {{ queryType {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType { ".repeat(MAX_DEPTH),
        "} ".repeat(MAX_DEPTH)
    );
    let res = schema().execute(deep.as_str()).await;
    let msg = res
        .errors
        .first()
        .map(|e| e.message.clone())
        .unwrap_or_default();
    assert!(msg.contains("nested too deep"), "{:?}", res.errors);
}

#[tokio::test]
async fn a_query_too_wide_is_refused_before_it_runs() {
    let fields = "infoHash name state percentage totalBytes downloaded uploaded ratio";
    let wide = format!(
        "{{ torrents {{ {fields} files {{ path length }} owner {{ torrents {{ {fields} files {{ path }} }} }} }} }}"
    );
    let res = schema().execute(wide.as_str()).await;
    let msg = res
        .errors
        .first()
        .map(|e| e.message.clone())
        .unwrap_or_default();
    assert!(msg.contains("complex"), "{:?}", res.errors);
}
