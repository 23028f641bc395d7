//! `POST /graphql`: the GraphQL edge ([`crate::graphql`]) under the REST API's JWT. A
//! missing or bad token is 401 in the project's error format, as on every REST route;
//! errors inside a query are GraphQL's `errors` list.

use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::State;
use axum::routing::post;

use super::AppState;
use super::error::ErrorBody;
use super::extract::AuthUser;

/// This module's part of the OpenAPI document (see [`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(graphql))]
pub(super) struct Doc;

/// A GraphQL request as `POST /graphql` takes it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Describes the body for the document; async-graphql parses it.
struct GraphqlBody {
    query: String,
    #[schema(value_type = Option<Object>)]
    variables: Option<serde_json::Value>,
    #[schema(rename = "operationName")]
    operation_name: Option<String>,
}

pub fn router() -> Router<AppState> {
    Router::new().route("/graphql", post(graphql))
}

/// Runs a GraphQL query (the schema is in the playground at `/graphql/playground`).
#[utoipa::path(post, path = "/graphql", operation_id = "graphql", tag = "graphql",
    request_body = GraphqlBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{data, errors}` as GraphQL answers; a query over the depth or complexity limit is an error in `errors`", body = Object),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn graphql(
    State(s): State<AppState>,
    user: AuthUser,
    req: GraphQLRequest,
) -> GraphQLResponse {
    let schema = s.graphql.clone();
    let req = req.into_inner().data(user.actor()).data(s);
    schema.execute(req).await.into()
}
