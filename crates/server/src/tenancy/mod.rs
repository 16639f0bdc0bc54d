//! Tenancy: virtual keys, teams, users and orgs, their limits and budgets.
//!
//! The store holds the documents; the request path reads only an in-memory [`Snapshot`]
//! behind an `ArcSwap`, rebuilt whole when anything changes. Changes made through this
//! replica's admin API apply at once; changes made on another replica arrive through Redis
//! pub/sub when Redis is configured, and otherwise through a poll of the store's cheap
//! fingerprint every second. Authentication turns the presented credential into a
//! [`Principal`] (key → team → org); [`admit`] turns the principal, the end user and the
//! model into one all-or-nothing admission against the limiter, whose permit is settled with
//! the actual usage and cost when the request's record is finished; the budget totals the
//! settlement reports feed the soft alerts ([`alerts`]).

pub(crate) mod admin;
mod admit;
pub(crate) mod alerts;
pub(crate) mod doc;
mod snapshot;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use futures_util::StreamExt;
use sluice_limits::{Period, Settled};
use sluice_store::{SpendDim, Store, TenantsFingerprint};
use sluice_types::{ErrorKind, GatewayError, Origin};

pub(crate) use admit::{Demand, admit, stamp_rate_headers};
use doc::Kind;
pub(crate) use snapshot::{Snapshot, Tenant, hash_secret, scope};

/// Requests refused by a limit or budget, by code.
pub(crate) const REJECTED: &str = "sluice_limit_rejections_total";

/// The prefix of every virtual key's secret.
pub const KEY_PREFIX: &str = "sk-sluice-";
/// How often the store is polled for changes made elsewhere (without Redis).
const POLL_EVERY: Duration = Duration::from_secs(1);
/// How often the store is polled anyway when Redis pub/sub carries the changes.
const POLL_WITH_REDIS: Duration = Duration::from_secs(10);

/// Who is calling: the virtual key and its team and org, or the admin key, or nobody (an
/// open gateway).
#[derive(Debug, Clone, Default)]
pub struct Principal {
    /// The virtual key.
    pub(crate) key: Option<Arc<Tenant>>,
    /// The key's team.
    pub(crate) team: Option<Arc<Tenant>>,
    /// The team's org.
    pub(crate) org: Option<Arc<Tenant>>,
}

impl Principal {
    /// The key, team and org, top-down order reversed (most specific first).
    pub(crate) fn chain(&self) -> impl Iterator<Item = &Arc<Tenant>> {
        [&self.key, &self.team, &self.org].into_iter().flatten()
    }

    /// The end user a key's requests belong to when they name none.
    pub(crate) fn default_user(&self) -> Option<&str> {
        self.key.as_ref().and_then(|k| k.doc.user.as_deref())
    }

    /// Refuses `model` when any level's allowlist does not admit it (403 naming the model).
    pub(crate) fn check_model(&self, model: &str) -> Result<(), GatewayError> {
        match self.chain().find(|t| !t.allows(model)) {
            None => Ok(()),
            Some(t) => Err(GatewayError::new(
                ErrorKind::Forbidden,
                Origin::Client,
                format!(
                    "model {model:?} is not allowed for {} {:?}",
                    t.kind.name(),
                    t.doc.id
                ),
            )
            .with_code("model_not_allowed")
            .with_param("model")),
        }
    }
}

/// The tenancy state of a gateway.
pub struct Tenancy {
    snapshot: ArcSwap<Snapshot>,
    store: Option<Store>,
    redis: Option<redis::Client>,
    channel: String,
    fingerprint: std::sync::Mutex<Option<TenantsFingerprint>>,
    /// Held by a reload from its first read to its swap, so a slower, older reload can
    /// never replace a newer view.
    reloading: tokio::sync::Mutex<()>,
    alerts: alerts::Alerts,
}

impl Tenancy {
    /// Tenancy over `store` (none: no keys can exist), announcing changes on `redis` when
    /// given, on a channel under `prefix`.
    pub fn new(store: Option<Store>, redis: Option<&str>, prefix: &str) -> Result<Self, String> {
        let redis = redis
            .map(redis::Client::open)
            .transpose()
            .map_err(|e| format!("redis: {e}"))?;
        Ok(Self {
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            alerts: alerts::Alerts::new(store.clone(), redis.clone(), prefix),
            store,
            redis,
            channel: format!("{prefix}tenancy"),
            fingerprint: std::sync::Mutex::new(None),
            reloading: tokio::sync::Mutex::new(()),
        })
    }

    /// After a request's permit was settled: raises the budget alerts it made due.
    pub(crate) async fn settled(&self, settled: &Settled) {
        if !settled.budgets.is_empty() {
            let now = sluice_store::unix_ms();
            self.alerts.check(&self.current(), settled, now).await;
        }
    }

    /// The current view.
    pub(crate) fn current(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// The store, for the admin API.
    pub(crate) fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// Turns a presented credential that looks like a virtual key into its principal:
    /// `None` when it is not a virtual key; 401 when it is unknown, revoked or expired.
    pub(crate) fn authenticate(
        &self,
        secret: &str,
        now_ms: i64,
    ) -> Option<Result<Principal, GatewayError>> {
        if !secret.starts_with(KEY_PREFIX) {
            return None;
        }
        let snap = self.current();
        let unauthorized =
            |m: String| GatewayError::new(ErrorKind::Unauthorized, Origin::Client, m);
        let Some(key) = snap.key(secret) else {
            return Some(Err(unauthorized("invalid API key".to_owned())));
        };
        if key.revoked {
            return Some(Err(unauthorized(format!(
                "API key {} was revoked",
                key.doc.id
            ))
            .with_code("key_revoked")));
        }
        if key.expires_at.is_some_and(|at| at <= now_ms) {
            return Some(Err(unauthorized(format!(
                "API key {} expired at {}",
                key.doc.id,
                key.doc.expires_at.as_deref().unwrap_or_default()
            ))
            .with_code("key_expired")));
        }
        let team = key
            .doc
            .team
            .as_deref()
            .and_then(|id| snap.get(Kind::Team, id))
            .cloned();
        let org = team
            .as_ref()
            .and_then(|t| t.doc.org.as_deref())
            .and_then(|id| snap.get(Kind::Org, id))
            .cloned();
        Some(Ok(Principal {
            key: Some(key.clone()),
            team,
            org,
        }))
    }

    /// Reloads every document and the budget seeds from the store.
    pub(crate) async fn reload(&self) -> Result<(), sluice_store::StoreError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let _one_at_a_time = self.reloading.lock().await;
        let fingerprint = store.tenants_fingerprint().await?;
        let rows = store.tenants().await?;
        let now = sluice_store::unix_ms();
        let mut snap = Snapshot::build(rows, HashMap::new());
        if snap.counts_tokens() {
            warm_tokenizer();
        }
        snap.seeds = seeds(store, &snap, now).await?;
        self.snapshot.store(Arc::new(snap));
        if let Ok(mut f) = self.fingerprint.lock() {
            *f = Some(fingerprint);
        }
        Ok(())
    }

    /// After a change through this replica's admin API: reload here, and tell the others.
    pub(crate) async fn changed(&self) {
        if let Err(e) = self.reload().await {
            tracing::warn!("tenancy reload failed: {e}");
        }
        if let Some(client) = &self.redis {
            let publish = async {
                let mut conn = client.get_multiplexed_async_connection().await?;
                redis::cmd("PUBLISH")
                    .arg(&self.channel)
                    .arg("changed")
                    .query_async::<i64>(&mut conn)
                    .await
            };
            match tokio::time::timeout(Duration::from_secs(1), publish).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!("cannot announce a tenancy change on Redis: {e}"),
                Err(_) => tracing::warn!("cannot announce a tenancy change on Redis: timed out"),
            }
        }
    }

    /// Brings the store's schema up to date and loads every document: whether it worked.
    pub async fn load(&self) -> bool {
        let Some(store) = &self.store else {
            return true;
        };
        if let Err(e) = store.migrate().await {
            tracing::debug!("tenancy waits for the store: {e}");
            return false;
        }
        match self.reload().await {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!("cannot load keys and teams yet: {e}");
                false
            }
        }
    }

    /// Keeps the view current: the first load (retried until the store answers, unless
    /// [`Tenancy::load`] did it), then a poll of the store's fingerprint, and Redis pub/sub
    /// when configured.
    pub fn spawn_sync(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        let store = self.store.clone()?;
        let this = self.clone();
        Some(tokio::spawn(async move {
            let loaded = this.fingerprint.lock().is_ok_and(|f| f.is_some());
            if !loaded {
                while !this.load().await {
                    tokio::time::sleep(POLL_EVERY).await;
                }
            }
            if let Some(client) = this.redis.clone() {
                tokio::spawn(listen(this.clone(), client));
            }
            let every = if this.redis.is_some() {
                POLL_WITH_REDIS
            } else {
                POLL_EVERY
            };
            loop {
                tokio::time::sleep(every).await;
                this.poll(&store).await;
            }
        }))
    }

    /// Reloads when the store's fingerprint moved.
    async fn poll(&self, store: &Store) {
        match store.tenants_fingerprint().await {
            Ok(now) => {
                let seen = self.fingerprint.lock().ok().and_then(|f| *f);
                if seen.as_ref() != Some(&now) {
                    if let Err(e) = self.reload().await {
                        tracing::warn!("tenancy reload failed: {e}");
                    }
                }
            }
            Err(e) => tracing::debug!("tenancy poll failed: {e}"),
        }
    }
}

/// Reloads whenever another replica announces a change; reconnects after a failure.
async fn listen(tenancy: Arc<Tenancy>, client: redis::Client) {
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if pubsub.subscribe(&tenancy.channel).await.is_ok() {
                    // Whatever changed while we were not listening.
                    let _ = tenancy.reload().await;
                    let mut messages = pubsub.on_message();
                    while messages.next().await.is_some() {
                        if let Err(e) = tenancy.reload().await {
                            tracing::warn!("tenancy reload failed: {e}");
                        }
                    }
                }
            }
            Err(e) => tracing::debug!("tenancy pub/sub: {e}"),
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Spend already persisted in each budgeted tenant's current period, keyed as
/// [`seed_key`] expects.
async fn seeds(
    store: &Store,
    snap: &Snapshot,
    now: i64,
) -> Result<HashMap<String, i64>, sluice_store::StoreError> {
    let mut wanted: HashMap<(Kind, i64), Vec<(String, Period)>> = HashMap::new();
    for kind in [Kind::Key, Kind::Team, Kind::Org, Kind::User] {
        for t in snap.all(kind) {
            if let Some(b) = &t.doc.budget {
                wanted
                    .entry((kind, b.period.start(now)))
                    .or_default()
                    .push((t.doc.id.clone(), b.period));
            }
        }
    }
    let mut out = HashMap::new();
    for ((kind, from), ids) in wanted {
        let totals = store.spend_totals(spend_dim(kind), from).await?;
        for (id, period) in ids {
            let spent = totals.get(&id).copied().unwrap_or(0);
            out.insert(seed_key(&scope(kind, &id), period, now), spent);
        }
    }
    Ok(out)
}

/// Loads the tokenizer's vocabulary (tens of MB, a moment to build) on a thread of its own,
/// once, when token limits or budgets will need it; a gateway without them never loads it.
pub(crate) fn warm_tokenizer() {
    static WARMED: std::sync::Once = std::sync::Once::new();
    WARMED.call_once(|| {
        std::thread::spawn(|| sluice_tokens::count(""));
    });
}

/// The key of a budget seed: the scope and the period it counts in.
pub(crate) fn seed_key(scope: &str, period: Period, now: i64) -> String {
    format!("{scope}@{}", period.id(now))
}

/// The spend-ledger dimension a kind of tenant is recorded under.
fn spend_dim(kind: Kind) -> SpendDim {
    match kind {
        Kind::Key => SpendDim::Key,
        Kind::Team => SpendDim::Team,
        Kind::Org => SpendDim::Org,
        Kind::User => SpendDim::User,
    }
}
