//! Cursor pagination for every list: `limit` (default 50, at most 100), an opaque `cursor`
//! for the next page, and the total when asked (`include_total=true`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use axum::extract::FromRequestParts;
use http::request::Parts;

use super::query::AppQuery;
use crate::error::ApiError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 100;

/// The pagination part of a list's query string.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page (base64url). One that is well formed but
    /// designates no page of this list (another list's, another sort order's) is a 404
    /// `cursor_not_found`: start again without it.
    #[param(pattern = r"^[A-Za-z0-9_-]{1,1024}$")]
    pub cursor: Option<String>,
    /// Also count all matching items (`total`).
    #[serde(default)]
    pub include_total: bool,
}

/// A validated page request with its decoded cursor.
#[derive(Debug)]
pub struct PageRequest<C> {
    pub limit: i64,
    pub after: Option<C>,
    pub include_total: bool,
}

impl<C> PageRequest<C> {
    /// The count of every matching item when the request asked for it (`include_total`):
    /// `count` is the query's future, run only then.
    pub async fn total(
        &self,
        count: impl Future<Output = Result<i64, sqlx::Error>>,
    ) -> Result<Option<i64>, ApiError> {
        Ok(if self.include_total {
            Some(count.await?)
        } else {
            None
        })
    }
}

/// A list's page, read from the query string (`limit`, `cursor`, `include_total`) and checked:
/// a handler takes `PageRequest<C>` with `C` its cursor's type (documented as `PageQuery`).
impl<C: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for PageRequest<C> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let AppQuery(query) = AppQuery::<PageQuery>::from_request_parts(parts, state).await?;
        query.parse()
    }
}

impl PageQuery {
    pub fn parse<C: DeserializeOwned>(&self) -> Result<PageRequest<C>, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid_field(
                "limit",
                "out_of_range",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        Ok(PageRequest {
            limit,
            after,
            include_total: self.include_total,
        })
    }
}

/// The position a cursor names: 422 when it is not base64url text of at most 1024 characters
/// (the documented pattern), 404 when it is but names no position of this list.
fn decode_cursor<C: DeserializeOwned>(cursor: &str) -> Result<C, ApiError> {
    let well_formed = (1..=1024).contains(&cursor.len())
        && cursor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(ApiError::invalid_field(
            "cursor",
            "invalid",
            "must be the next_cursor of a previous page",
        ));
    }
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| ApiError::NotFound {
            code: "cursor_not_found",
            detail: "this cursor names no page of this list (it may come from another list or \
                     sort order); start again without it"
                .into(),
        })
}

/// One page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// All matching items (only when `include_total=true`; absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(extensions(("x-may-be-absent" = json!(true))))]
    pub total: Option<i64>,
}

impl<T> Page<T> {
    /// A list that is always whole (a supplier's contacts, the locations): one page, in the
    /// shape of every other list.
    pub fn whole(items: Vec<T>) -> Self {
        Self {
            items,
            next_cursor: None,
            total: None,
        }
    }

    /// Builds a page from up to `limit + 1` rows (fetch one extra to know whether more exist);
    /// `cursor_of` gives the position of an item.
    pub fn from_rows<C: Serialize>(
        mut rows: Vec<T>,
        limit: i64,
        total: Option<i64>,
        cursor_of: impl Fn(&T) -> C,
    ) -> Self {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = more.then(|| rows.last()).flatten().map(|last| {
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor_of(last)).unwrap_or_default())
        });
        Self {
            items: rows,
            next_cursor,
            total,
        }
    }
}

impl<T> Page<T> {
    /// The same page with each item turned into what the API shows (a row into its view).
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
            total: self.total,
        }
    }
}

/// A `LIKE` pattern matching `text` anywhere, with its wildcards escaped.
pub fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_and_is_bounded() {
        assert_eq!(PageQuery::default().parse::<i64>().unwrap().limit, 50);
        let too_big = PageQuery {
            limit: Some(101),
            ..Default::default()
        };
        assert!(too_big.parse::<i64>().is_err());
        let zero = PageQuery {
            limit: Some(0),
            ..Default::default()
        };
        assert!(zero.parse::<i64>().is_err());
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let page = Page::from_rows(vec![1i64, 2, 3], 2, None, |n| *n);
        assert_eq!(page.items, [1, 2]);
        let cursor = page.next_cursor.unwrap();
        let query = PageQuery {
            cursor: Some(cursor),
            ..Default::default()
        };
        assert_eq!(query.parse::<i64>().unwrap().after, Some(2));
        let bad = PageQuery {
            cursor: Some("!!".into()),
            ..Default::default()
        };
        assert!(bad.parse::<i64>().is_err());
    }

    #[test]
    fn the_last_page_has_no_cursor() {
        assert!(
            Page::from_rows(vec![1i64, 2], 2, None, |n| *n)
                .next_cursor
                .is_none()
        );
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(contains_pattern("50%_off"), "%50\\%\\_off%");
    }
}
