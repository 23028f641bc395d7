//! The GraphQL edge (`POST /graphql`, playground at `/graphql/playground`): the caller's
//! torrents, users (the caller; everyone for administrators), statistics, the tracker
//! account and the catalog ([`catalog`]), read through the same engine, store, tracker
//! and catalog operations as the REST API, under the same JWT and visibility rules.
//!
//! Queries are bounded: at most [`MAX_DEPTH`] levels of nesting (so a cycle such as
//! torrent → owner → torrents → owner … cannot be followed far) and [`MAX_COMPLEXITY`]
//! fields in all (lists count as [`LIST_COST`] each).

mod catalog;
mod types;

use async_graphql::{
    Context, EmptyMutation, EmptySubscription, MergedObject, Object, Result, Schema,
};

use crate::app::Services;
use crate::engine::Actor;
use crate::store::Role;
use types::{Statistics, Torrent, User};

/// Deepest nesting a query may have. GraphiQL's own introspection query needs 13.
pub const MAX_DEPTH: usize = 15;
/// Most fields a query may select, lists counted at [`LIST_COST`].
pub const MAX_COMPLEXITY: usize = 2_000;
/// What a field that returns a list counts for.
pub const LIST_COST: usize = 10;

pub type GraphqlSchema = Schema<Query, EmptyMutation, EmptySubscription>;

pub fn schema() -> GraphqlSchema {
    Schema::build(Query::default(), EmptyMutation, EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
}

/// What every resolver may reach: the services and who asks.
pub(crate) fn parts<'a>(ctx: &'a Context<'_>) -> (&'a Services, &'a Actor) {
    (
        ctx.data_unchecked::<Services>(),
        ctx.data_unchecked::<Actor>(),
    )
}

/// The root: the torrent-server queries below and the catalog's.
#[derive(MergedObject, Default)]
pub struct Query(ServerQuery, catalog::CatalogQuery);

/// The caller, users, torrents and statistics.
#[derive(Default)]
pub struct ServerQuery;

#[Object]
impl ServerQuery {
    /// The caller.
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        let (s, actor) = parts(ctx);
        let user = s.store.user_by_id(&actor.user_id).await?;
        user.map(User)
            .ok_or_else(|| "the caller's account is gone".into())
    }

    /// One user: the caller, or anyone for an administrator (others are `null`).
    async fn user(&self, ctx: &Context<'_>, id: String) -> Result<Option<User>> {
        let (s, actor) = parts(ctx);
        if !actor.admin && id != actor.user_id {
            return Ok(None);
        }
        Ok(s.store.user_by_id(&id).await?.map(User))
    }

    /// Every user for an administrator; the caller alone for anyone else.
    #[graphql(complexity = "crate::graphql::LIST_COST * child_complexity")]
    async fn users(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        let (s, actor) = parts(ctx);
        if actor.admin {
            let all = s.store.list_users().await?;
            return Ok(all.into_iter().map(User).collect());
        }
        Ok(s.store
            .user_by_id(&actor.user_id)
            .await?
            .map(User)
            .into_iter()
            .collect())
    }

    /// The torrents the caller sees (an administrator sees all), optionally in one state
    /// (`downloading`, `seeding`, `paused`, `queued`, ...), newest first.
    #[graphql(complexity = "crate::graphql::LIST_COST * child_complexity")]
    async fn torrents(
        &self,
        ctx: &Context<'_>,
        state: Option<String>,
        first: Option<usize>,
    ) -> Result<Vec<Torrent>> {
        let (s, actor) = parts(ctx);
        let mut list = s.engine.list(actor);
        if let Some(state) = &state {
            list.retain(|t| t.state.name() == state);
        }
        list.sort_by_key(|t| std::cmp::Reverse(t.added_at));
        list.truncate(first.unwrap_or(usize::MAX));
        Ok(list.into_iter().map(Torrent).collect())
    }

    /// One torrent the caller sees, by info hash; `null` otherwise.
    async fn torrent(&self, ctx: &Context<'_>, info_hash: String) -> Result<Option<Torrent>> {
        let (s, actor) = parts(ctx);
        let Ok(hash) = crate::InfoHash::parse(&info_hash) else {
            return Err("infoHash must be 40 hexadecimal characters".into());
        };
        Ok(s.engine.view_of(actor, &hash).ok().map(Torrent))
    }

    /// Totals over the torrents the caller sees, and the caller's tracker account.
    async fn statistics(&self, ctx: &Context<'_>) -> Result<Statistics> {
        let (s, actor) = parts(ctx);
        Ok(Statistics {
            engine: s.engine.statistics(actor),
            tracker: s.tracker.user_stats(&actor.user_id).await?,
        })
    }
}

/// The actor a token's claims make.
pub fn actor_of(user_id: &str, role: Role) -> Actor {
    Actor {
        user_id: user_id.to_owned(),
        admin: role == Role::Admin,
    }
}

#[cfg(test)]
mod tests;
