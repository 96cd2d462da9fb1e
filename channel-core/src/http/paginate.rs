//! Paged reads as streams: one helper for every pagination style the platforms use.
//!
//! A platform's read is one call per page; [`pages`] turns "fetch the page at this cursor, learn where the
//! next one starts" into a stream of pages, [`items`] into a stream of the pages' items. The cursor is
//! whatever the platform pages by, and the `next_*` functions compute it for the common styles:
//!
//! | style | cursor | next |
//! |---|---|---|
//! | page number (Takealot, WooCommerce) | `u32` from 1 | [`next_page_number`] |
//! | offset and limit | `usize` from 0 | [`next_offset`] |
//! | cursor / next link (Shopify GraphQL `endCursor`, `Link: rel="next"`) | `Option<String>` | [`next_link`] for a `Link` header |
//! | continuation token (Amazon `nextToken`) | `Option<String>` | the token the page returned |
//!
//! A cursor type may carry more than the position (the newest timestamp seen so far, for an order
//! cursor): the helper only hands it from one call to the next.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use futures::TryStreamExt;
//! use channel_core::http::paginate::{self, Page};
//!
//! // Three pages of two items, numbered from 1, "has more" on all but the last.
//! let all: Vec<u32> = paginate::items(1u32, |page| async move {
//!     let items = vec![page * 10, page * 10 + 1];
//!     Ok::<_, channel_core::Error>(Page::new(items, paginate::next_page_number(page, page < 3)))
//! })
//! .try_collect()
//! .await?;
//! assert_eq!(all, [10, 11, 20, 21, 30, 31]);
//! # Ok::<(), channel_core::Error>(())
//! # }).unwrap();
//! ```

use std::future::Future;

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use super::HeaderMap;

/// One page of a paged read: its items, and where the next page starts (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T, C> {
    /// The page's items.
    pub items: Vec<T>,
    /// The cursor of the next page; `None` when this was the last.
    pub next: Option<C>,
}

impl<T, C> Page<T, C> {
    /// A page and the cursor of the next one.
    pub fn new(items: Vec<T>, next: Option<C>) -> Self {
        Self { items, next }
    }

    /// The last page.
    pub fn last(items: Vec<T>) -> Self {
        Self { items, next: None }
    }
}

/// Every page, from `first` on: `fetch(cursor)` reads one page; the stream ends after a page with no next
/// cursor, and after the first error (which it yields).
pub fn pages<'a, T, C, E, F, Fut>(first: C, mut fetch: F) -> BoxStream<'a, Result<Vec<T>, E>>
where
    T: Send + 'a,
    C: Send + 'a,
    E: Send + 'a,
    F: FnMut(C) -> Fut + Send + 'a,
    Fut: Future<Output = Result<Page<T, C>, E>> + Send + 'a,
{
    stream::try_unfold(Some(first), move |cursor| {
        let call = cursor.map(&mut fetch);
        async move {
            let Some(call) = call else { return Ok(None) };
            let page = call.await?;
            Ok(Some((page.items, page.next)))
        }
    })
    .boxed()
}

/// Every item of every page, from `first` on (see [`pages`]).
pub fn items<'a, T, C, E, F, Fut>(first: C, fetch: F) -> BoxStream<'a, Result<T, E>>
where
    T: Send + 'a,
    C: Send + 'a,
    E: Send + 'a,
    F: FnMut(C) -> Fut + Send + 'a,
    Fut: Future<Output = Result<Page<T, C>, E>> + Send + 'a,
{
    pages(first, fetch).map_ok(|items| stream::iter(items.into_iter().map(Ok))).try_flatten().boxed()
}

/// Page-number style: the page after `page` when the platform said there are more.
pub fn next_page_number(page: u32, has_more: bool) -> Option<u32> {
    has_more.then(|| page.saturating_add(1))
}

/// Offset style: the offset after a page that returned `returned` of at most `limit` items; a short page
/// is the last.
pub fn next_offset(offset: usize, returned: usize, limit: usize) -> Option<usize> {
    (returned > 0 && returned >= limit).then(|| offset.saturating_add(returned))
}

/// Next-link style: the `rel="next"` target of a `Link` header (RFC 8288), as Shopify's REST API and
/// WordPress send it.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    headers.get_all(super::reqwest::header::LINK).iter().filter_map(|v| v.to_str().ok()).find_map(|value| {
        value.split(',').find_map(|link| {
            let (target, params) = link.trim().split_once(';')?;
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            params
                .split(';')
                .filter_map(|p| p.trim().split_once('='))
                .any(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("rel")
                        && v.trim().trim_matches('"').split_ascii_whitespace().any(|r| r.eq_ignore_ascii_case("next"))
                })
                .then(|| target.to_owned())
        })
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::Error;

    #[tokio::test]
    async fn offsets_stop_at_a_short_page() {
        let data: Vec<u32> = (0..7).collect();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let got: Vec<u32> = items(0usize, move |offset| {
            c.fetch_add(1, Ordering::SeqCst);
            let page: Vec<u32> = data.iter().copied().skip(offset).take(3).collect();
            let next = next_offset(offset, page.len(), 3);
            async move { Ok::<_, Error>(Page::new(page, next)) }
        })
        .try_collect()
        .await
        .unwrap();
        assert_eq!(got, (0..7).collect::<Vec<_>>());
        assert_eq!(calls.load(Ordering::SeqCst), 3, "pages of 3, 3 and 1: the short one is the last");
        assert_eq!(next_offset(6, 0, 3), None);
    }

    #[tokio::test]
    async fn tokens_and_errors() {
        // Token style with an error on the second page: the first page's items, then the error, then nothing.
        let stream = items(None::<String>, |token| async move {
            match token.as_deref() {
                None => Ok(Page::new(vec![1, 2], Some(Some("t2".to_owned())))),
                Some(_) => Err(Error::transient("page 2 failed")),
            }
        });
        let got: Vec<Result<i32, Error>> = stream.collect().await;
        assert_eq!(got.len(), 3);
        assert!(got[0].is_ok() && got[1].is_ok() && got[2].is_err());
        let pages_seen: Vec<Vec<i32>> =
            pages(1u32, |p| async move { Ok::<_, Error>(Page::new(vec![1], next_page_number(p, p < 2))) })
                .try_collect()
                .await
                .unwrap();
        assert_eq!(pages_seen, [vec![1], vec![1]]);
    }

    #[test]
    fn link_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "link",
            r#"<https://shop.example/a?page_info=p>; rel="previous", <https://shop.example/a?page_info=n>; rel="next""#
                .parse()
                .unwrap(),
        );
        assert_eq!(next_link(&headers).as_deref(), Some("https://shop.example/a?page_info=n"));
        headers.insert("link", r#"<https://shop.example/a?page_info=p>; rel="previous""#.parse().unwrap());
        assert_eq!(next_link(&headers), None);
        assert_eq!(next_link(&HeaderMap::new()), None);
    }
}
