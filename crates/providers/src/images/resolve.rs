//! The name resolver of the image-fetching client: it looks a host up and refuses it unless
//! every address it has is one the gateway may fetch from. The connector connects to exactly
//! the addresses it returns, so what was checked is what is reached: no second lookup a DNS
//! answer could change in between.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;

use super::address::refusal;

/// Why a host may not be fetched from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Blocked {
    /// The host resolves to an address outside the public internet.
    #[error("{host} is {why} ({ip})")]
    Address {
        /// The host as written in the URL.
        host: String,
        /// The refused address.
        ip: IpAddr,
        /// What kind of address it is.
        why: &'static str,
    },
    /// The host did not resolve.
    #[error("{host} could not be resolved: {reason}")]
    Unresolved {
        /// The host.
        host: String,
        /// The resolver's error.
        reason: String,
    },
}

/// Checks one address of `host`: `Ok` when it is public or explicitly allowed.
pub(crate) fn check(host: &str, ip: IpAddr, allowed: &[IpAddr]) -> Result<(), Blocked> {
    match refusal(ip) {
        Some(why) if !allowed.contains(&ip) => Err(Blocked::Address {
            host: host.to_owned(),
            ip,
            why,
        }),
        _ => Ok(()),
    }
}

/// A resolver that returns a host's addresses only when every one of them passes [`check`].
#[derive(Debug, Clone)]
pub(crate) struct CheckedResolver {
    /// Private addresses that may be fetched from anyway.
    pub(crate) allowed: Arc<[IpAddr]>,
}

impl tower::Service<Name> for CheckedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = Blocked;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Blocked>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Blocked>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allowed = self.allowed.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| Blocked::Unresolved {
                    host: host.clone(),
                    reason: e.to_string(),
                })?
                .collect();
            if addrs.is_empty() {
                return Err(Blocked::Unresolved {
                    host,
                    reason: "no addresses".to_owned(),
                });
            }
            for addr in &addrs {
                check(&host, addr.ip(), &allowed)?;
            }
            Ok(addrs.into_iter())
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tower::Service as _;

    use super::*;

    #[tokio::test]
    async fn a_name_of_a_private_address_is_refused_unless_allowed() {
        let mut refusing = CheckedResolver {
            allowed: Arc::from(Vec::new()),
        };
        let e = refusing
            .call("localhost".parse().unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Blocked::Address { host, why, .. } if host == "localhost" && *why == "a loopback address"),
            "{e}"
        );
        let loopback: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
        let mut allowing = CheckedResolver {
            allowed: Arc::from(loopback),
        };
        let addrs: Vec<SocketAddr> = allowing
            .call("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
