//! `POST /graphql`: the GraphQL edge ([`crate::graphql`]) under the REST API's JWT. A
//! missing or bad token is 401 in the project's error format, as on every REST route;
//! errors inside a query are GraphQL's `errors` list.

use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::State;
use axum::routing::post;

use super::AppState;
use super::extract::AuthUser;

pub fn router() -> Router<AppState> {
    Router::new().route("/graphql", post(graphql))
}

async fn graphql(
    State(s): State<AppState>,
    user: AuthUser,
    req: GraphQLRequest,
) -> GraphQLResponse {
    let schema = s.graphql.clone();
    let req = req.into_inner().data(user.actor()).data(s);
    schema.execute(req).await.into()
}
