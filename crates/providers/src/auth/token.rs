//! A cached access token, refreshed before it expires, with one refresh in flight at a time.
//!
//! A token is used as it is until it is due for refresh: five minutes before it expires, or
//! halfway through its life when it lives less than ten minutes. Once due, the first request
//! refreshes it while the others carry on with the old token, which is still valid. Once
//! expired (or before the first token), every request waits for the one refresh in flight;
//! when that refresh fails, all of them get its error, and the next request tries again. A
//! token's life is counted from the moment its request was sent, so network delays only
//! make it end early.
//!
//! The cache does no I/O itself: the caller passes the fetch, which keeps it testable with
//! paused time. Reads take a short uncontended read lock; the refresh lock is held across the
//! fetch only.

use std::future::Future;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use http::HeaderValue;
use sluice_types::GatewayError;
use tokio::time::Instant;

/// How long before expiry a token is refreshed (at most half its life).
const REFRESH_EARLY: Duration = Duration::from_secs(5 * 60);

/// A freshly fetched token.
pub(crate) struct Fetched {
    /// The header value requests carry (`Bearer …`, marked sensitive).
    pub(crate) value: HeaderValue,
    /// How long the token lives from the moment it was asked for.
    pub(crate) lifetime: Duration,
}

#[derive(Clone)]
struct Cached {
    value: HeaderValue,
    refresh_at: Instant,
    expires_at: Instant,
}

/// The last failed refresh: when it ended, and why.
struct Failure {
    at: Instant,
    error: GatewayError,
}

/// One provider's access token.
#[derive(Default)]
pub(crate) struct TokenCache {
    current: RwLock<Option<Cached>>,
    /// Held for the whole of a refresh; keeps the last failure for the requests that waited
    /// on it.
    refresh: tokio::sync::Mutex<Option<Failure>>,
}

impl TokenCache {
    /// The current token, refreshed with `fetch` when it is due (see the module doc).
    pub(crate) async fn get<F, Fut>(&self, fetch: F) -> Result<HeaderValue, GatewayError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched, GatewayError>>,
    {
        let asked = Instant::now();
        let still_valid = match self.cached() {
            Some(c) if asked < c.refresh_at => return Ok(c.value),
            Some(c) if asked < c.expires_at => Some(c.value),
            _ => None,
        };
        let mut last_failure = match &still_valid {
            // Due for refresh: one request refreshes, the others use the valid token.
            Some(value) => match self.refresh.try_lock() {
                Ok(guard) => guard,
                Err(_) => return Ok(value.clone()),
            },
            None => self.refresh.lock().await,
        };
        // A refresh may have finished while this request waited for the lock.
        if let Some(c) = self.cached().filter(|c| Instant::now() < c.refresh_at) {
            return Ok(c.value);
        }
        if still_valid.is_none() {
            if let Some(failure) = last_failure.as_ref().filter(|f| f.at >= asked) {
                return Err(failure.error.clone());
            }
        }
        let started = Instant::now();
        match fetch().await {
            Ok(fetched) => {
                let early = REFRESH_EARLY.min(fetched.lifetime / 2);
                let cached = Cached {
                    value: fetched.value,
                    refresh_at: started + fetched.lifetime - early,
                    expires_at: started + fetched.lifetime,
                };
                *self.current.write().unwrap_or_else(PoisonError::into_inner) =
                    Some(cached.clone());
                *last_failure = None;
                Ok(cached.value)
            }
            Err(error) => {
                *last_failure = Some(Failure {
                    at: Instant::now(),
                    error: error.clone(),
                });
                match still_valid {
                    Some(value) => {
                        tracing::warn!(error = %error, "could not refresh an access token; using the current one until it expires");
                        Ok(value)
                    }
                    None => Err(error),
                }
            }
        }
    }

    fn cached(&self) -> Option<Cached> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A fake token endpoint: counts fetches, takes `delay`, issues `token-<n>` for
    /// `lifetime`, or fails while `failing` is set.
    #[derive(Default)]
    struct Endpoint {
        fetches: AtomicUsize,
        failing: std::sync::atomic::AtomicBool,
    }

    impl Endpoint {
        async fn fetch(
            &self,
            lifetime: Duration,
            delay: Duration,
        ) -> Result<Fetched, GatewayError> {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(delay).await;
            if self.failing.load(Ordering::SeqCst) {
                return Err(GatewayError::internal(format!("refused fetch {n}")));
            }
            Ok(Fetched {
                value: HeaderValue::from_str(&format!("token-{n}")).unwrap(),
                lifetime,
            })
        }

        fn count(&self) -> usize {
            self.fetches.load(Ordering::SeqCst)
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);
    const LATENCY: Duration = Duration::from_millis(100);

    async fn get(cache: &TokenCache, endpoint: &Endpoint) -> Result<String, GatewayError> {
        let v = cache.get(|| endpoint.fetch(HOUR, LATENCY)).await?;
        Ok(v.to_str().unwrap().to_owned())
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_is_reused_until_five_minutes_before_it_expires() {
        let (cache, endpoint) = (TokenCache::default(), Endpoint::default());
        assert_eq!(get(&cache, &endpoint).await.unwrap(), "token-1");
        tokio::time::advance(Duration::from_secs(54 * 60)).await;
        assert_eq!(get(&cache, &endpoint).await.unwrap(), "token-1");
        assert_eq!(endpoint.count(), 1);
        // Inside the last five minutes: refreshed, and the new token is used at once.
        tokio::time::advance(Duration::from_secs(2 * 60)).await;
        assert_eq!(get(&cache, &endpoint).await.unwrap(), "token-2");
        assert_eq!(endpoint.count(), 2);
        // Long past its expiry: a request waits for a new one.
        tokio::time::advance(2 * HOUR).await;
        assert_eq!(get(&cache, &endpoint).await.unwrap(), "token-3");
    }

    #[tokio::test(start_paused = true)]
    async fn a_short_lived_token_is_refreshed_halfway_through_its_life() {
        let (cache, endpoint) = (TokenCache::default(), Endpoint::default());
        let short = || endpoint.fetch(Duration::from_secs(60), Duration::ZERO);
        cache.get(short).await.unwrap();
        tokio::time::advance(Duration::from_secs(29)).await;
        cache.get(short).await.unwrap();
        assert_eq!(endpoint.count(), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        cache.get(short).await.unwrap();
        assert_eq!(endpoint.count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_requests_wait_on_one_refresh() {
        let cache = Arc::new(TokenCache::default());
        let endpoint = Arc::new(Endpoint::default());
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (cache, endpoint) = (cache.clone(), endpoint.clone());
                tokio::spawn(async move { get(&cache, &endpoint).await.unwrap() })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), "token-1");
        }
        assert_eq!(endpoint.count(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_due_token_is_refreshed_by_one_request_while_the_others_use_it() {
        let cache = Arc::new(TokenCache::default());
        let endpoint = Arc::new(Endpoint::default());
        get(&cache, &endpoint).await.unwrap();
        tokio::time::advance(Duration::from_secs(58 * 60)).await;
        let refreshing = {
            let (cache, endpoint) = (cache.clone(), endpoint.clone());
            tokio::spawn(async move { get(&cache, &endpoint).await.unwrap() })
        };
        tokio::task::yield_now().await;
        // The refresh is in flight: this request does not wait for it.
        let started = Instant::now();
        assert_eq!(get(&cache, &endpoint).await.unwrap(), "token-1");
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(refreshing.await.unwrap(), "token-2");
        assert_eq!(get(&cache, &endpoint).await.unwrap(), "token-2");
        assert_eq!(endpoint.count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_refresh_fails_every_waiting_request_once_and_is_retried_later() {
        let cache = Arc::new(TokenCache::default());
        let endpoint = Arc::new(Endpoint::default());
        endpoint.failing.store(true, Ordering::SeqCst);
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let (cache, endpoint) = (cache.clone(), endpoint.clone());
                tokio::spawn(async move { get(&cache, &endpoint).await })
            })
            .collect();
        for t in tasks {
            let e = t.await.unwrap().unwrap_err();
            assert_eq!(e.message(), "refused fetch 1");
        }
        assert_eq!(endpoint.count(), 1, "the waiters shared the one failure");
        // A later request tries again, and succeeds once the endpoint does.
        tokio::time::advance(Duration::from_secs(1)).await;
        endpoint.failing.store(false, Ordering::SeqCst);
        assert_eq!(get(&cache, &endpoint).await.unwrap(), "token-2");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_refresh_of_a_valid_token_keeps_using_it() {
        let (cache, endpoint) = (TokenCache::default(), Endpoint::default());
        get(&cache, &endpoint).await.unwrap();
        tokio::time::advance(Duration::from_secs(57 * 60)).await;
        endpoint.failing.store(true, Ordering::SeqCst);
        assert_eq!(get(&cache, &endpoint).await.unwrap(), "token-1");
        assert_eq!(endpoint.count(), 2);
        // Once it has expired, the failure reaches the request.
        tokio::time::advance(Duration::from_secs(4 * 60)).await;
        assert!(get(&cache, &endpoint).await.is_err());
    }
}
