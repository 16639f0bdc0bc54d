//! Budget soft alerts: once per budget and period, when what a budget has committed reaches
//! `alert_at` × its amount, an event is stored, a warning logged, a counter incremented and,
//! when the budget names a `webhook`, a JSON POST sent to it.
//!
//! The check rides on settlement: [`sluice_limits::Permit::settle`] already reports each
//! budget counter's new total (spend plus the reservations of requests in flight, the same
//! number admission compares with the amount), so a settlement below every threshold costs
//! a snapshot lookup and a comparison per budget, and nothing else. A budget over its threshold is raised once per
//! scope and period id (`key:key_…@m202611`): a set in this process claims it first, so a
//! replica asks Redis at most once per budget and period; with Redis configured, a
//! `SET NX` on a key that expires an hour after the period (never, for a total budget)
//! makes one replica the one that raises it. When Redis cannot be asked the alert is raised
//! here anyway: an alert twice is better than none. Everything runs on the task that
//! settles the request, after its response; the webhook gets one attempt of at most
//! [`WEBHOOK_TIMEOUT`], and a failure is logged (the stored event remains).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use sluice_limits::{BudgetTotal, Settled};
use sluice_pricing::Usd;
use sluice_store::Store;

use super::doc::Kind;
use super::snapshot::Snapshot;

/// Budget alerts raised, by level.
pub(crate) const ALERTS: &str = "sluice_budget_alerts_total";
/// The kind of the events stored for budget alerts.
const EVENT_KIND: &str = "budget_alert";
/// The bound on one webhook call, from connecting to the response head.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// The bound on asking Redis whether another replica raised an alert.
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);
/// How long after its period an alert is remembered (as the limiter keeps its counters).
const GRACE_MS: i64 = 3_600_000;

/// A budget at or over its alert threshold after a settlement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Alert {
    /// The kind of tenant the budget belongs to.
    pub kind: Kind,
    /// The tenant's id.
    pub id: String,
    /// The budget counter, as the settlement left it.
    pub total: BudgetTotal,
    /// The budget's amount (nano-USD).
    pub amount_nano: i64,
    /// The share of the amount that raises the alert.
    pub alert_at: f64,
    /// Where the alert is POSTed, if anywhere.
    pub webhook: Option<String>,
}

impl Alert {
    /// `alert_at` × the amount, to the nano-dollar.
    fn threshold_nano(&self) -> i64 {
        threshold(self.amount_nano, self.alert_at)
    }

    /// The dedupe key: the scope and the period it counts in.
    fn key(&self) -> String {
        format!("{}@{}", self.total.scope, self.total.period_id)
    }

    /// What is stored with the event.
    fn data(&self) -> Value {
        json!({
            "level": self.total.level.as_str(),
            "id": self.id,
            "scope": self.total.scope,
            "period": self.total.period.as_str(),
            "period_id": self.total.period_id,
            "amount_usd": Usd(self.amount_nano).as_f64(),
            "spent_usd": Usd(self.total.committed_nano).as_f64(),
            "alert_at": self.alert_at,
            "threshold_usd": Usd(self.threshold_nano()).as_f64(),
        })
    }
}

/// `alert_at` × `amount_nano`, rounded to the nano-dollar.
fn threshold(amount_nano: i64, alert_at: f64) -> i64 {
    // Amounts are exact as f64 up to 2^53 nano-dollars (about $9 million), as in the limiter.
    (amount_nano as f64 * alert_at).round() as i64
}

/// The budgets of `settled` that are at or over their alert threshold, with the budget as
/// `snap` has it now. A budget that is gone, or whose period changed since the request was
/// admitted, raises nothing.
pub(crate) fn due(settled: &Settled, snap: &Snapshot) -> Vec<Alert> {
    let mut out = Vec::new();
    for total in &settled.budgets {
        let Some((kind, id)) = total.scope.split_once(':') else {
            continue;
        };
        let Some(tenant) = Kind::from_name(kind).and_then(|k| snap.get(k, id)) else {
            continue;
        };
        let Some(budget) = tenant.doc.budget.as_ref() else {
            continue;
        };
        if budget.period != total.period
            || total.committed_nano < threshold(budget.amount.0, budget.alert_at)
        {
            continue;
        }
        out.push(Alert {
            kind: tenant.kind,
            id: tenant.doc.id.clone(),
            total: total.clone(),
            amount_nano: budget.amount.0,
            alert_at: budget.alert_at,
            webhook: budget.webhook.clone(),
        });
    }
    out
}

/// Raises budget alerts, each once per budget and period.
pub(crate) struct Alerts {
    /// Where events are stored, when the gateway has a store.
    store: Option<Store>,
    /// The Redis shared with other replicas, when configured.
    redis: Option<redis::Client>,
    /// The prefix of the dedupe keys in Redis.
    prefix: String,
    /// Alerts raised (or seen raised elsewhere) by this process: dedupe key → when it may be
    /// forgotten (unix ms).
    raised: Mutex<HashMap<String, i64>>,
}

impl Alerts {
    /// Alerts storing events in `store`, deduplicated across replicas in `redis` under keys
    /// that start with `prefix` (e.g. `sluice:`).
    pub(crate) fn new(store: Option<Store>, redis: Option<redis::Client>, prefix: &str) -> Self {
        Self {
            store,
            redis,
            prefix: format!("{prefix}alert:"),
            raised: Mutex::new(HashMap::new()),
        }
    }

    /// Raises the alerts `settled` makes due at `now` (unix ms) that nobody raised yet.
    pub(crate) async fn check(&self, snap: &Snapshot, settled: &Settled, now: i64) {
        for alert in due(settled, snap) {
            if self.claim(&alert, now).await {
                self.raise(&alert, now).await;
            }
        }
    }

    /// Whether this replica is the one to raise `alert`: first in this process, then (with
    /// Redis) among every replica.
    async fn claim(&self, alert: &Alert, now: i64) -> bool {
        let key = alert.key();
        if !self.claim_here(&key, alert.total.resets_at, now) {
            return false;
        }
        let Some(client) = &self.redis else {
            return true;
        };
        let ttl = alert.total.resets_at.map(|end| {
            u64::try_from((end + GRACE_MS - now + 999) / 1000)
                .unwrap_or(0)
                .max(1)
        });
        let shared = format!("{}{key}", self.prefix);
        match tokio::time::timeout(REDIS_TIMEOUT, claim_shared(client, &shared, ttl)).await {
            Ok(Ok(won)) => won,
            Ok(Err(e)) => {
                tracing::warn!("budget alert {key}: Redis failed ({e}); raising it here");
                true
            }
            Err(_) => {
                tracing::warn!("budget alert {key}: Redis did not answer; raising it here");
                true
            }
        }
    }

    /// Notes `key` as raised in this process: false when it already was. Forgets the keys
    /// of periods that are over.
    fn claim_here(&self, key: &str, resets_at: Option<i64>, now: i64) -> bool {
        let mut raised = self.raised.lock().unwrap_or_else(PoisonError::into_inner);
        if raised.contains_key(key) {
            return false;
        }
        raised.retain(|_, forget_at| *forget_at > now);
        raised.insert(
            key.to_owned(),
            resets_at.map_or(i64::MAX, |end| end.saturating_add(GRACE_MS)),
        );
        true
    }

    /// Stores the event, logs, counts, and calls the webhook.
    async fn raise(&self, alert: &Alert, now: i64) {
        let data = alert.data();
        let t = &alert.total;
        tracing::warn!(
            scope = %t.scope,
            period = %t.period_id,
            "budget alert: {} {} has committed ${} of its {} budget of ${} (alert at {}%)",
            alert.kind.name(),
            alert.id,
            Usd(t.committed_nano),
            t.period,
            Usd(alert.amount_nano),
            alert.alert_at * 100.0,
        );
        metrics::counter!(ALERTS, "level" => t.level.as_str()).increment(1);
        if let Some(store) = &self.store {
            if let Err(e) = store.insert_event(now, EVENT_KIND, &t.scope, &data).await {
                tracing::warn!("budget alert for {}: cannot store the event: {e}", t.scope);
            }
        }
        if let Some(url) = &alert.webhook {
            let mut body = json!({"type": EVENT_KIND, "at": now});
            if let (Value::Object(map), Value::Object(data)) = (&mut body, data) {
                map.extend(data);
            }
            self.post(url, &body).await;
        }
    }

    /// POSTs `body` to `url` once, within [`WEBHOOK_TIMEOUT`]; failures are logged.
    async fn post(&self, url: &str, body: &Value) {
        let body = Bytes::from(body.to_string());
        match crate::hook::post(url, &[], body, WEBHOOK_TIMEOUT, 64 << 10).await {
            Ok((status, _)) if status.is_success() => {
                tracing::debug!("budget alert webhook {url} answered {status}");
            }
            Ok((status, _)) => tracing::warn!("budget alert webhook {url} answered {status}"),
            Err(e) => tracing::warn!("budget alert webhook: {e}"),
        }
    }
}

/// `SET key 1 NX [EX ttl]`: whether this call created the key.
async fn claim_shared(
    client: &redis::Client,
    key: &str,
    ttl_secs: Option<u64>,
) -> redis::RedisResult<bool> {
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut set = redis::cmd("SET");
    set.arg(key).arg(1).arg("NX");
    if let Some(secs) = ttl_secs {
        set.arg("EX").arg(secs);
    }
    let reply: Option<String> = set.query_async(&mut conn).await?;
    Ok(reply.is_some())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;
    use sluice_limits::{Level, Period};
    use sluice_store::TenantRow;

    use super::*;

    /// 2026-11-25T13:45:00Z.
    const NOW: i64 = 1_795_614_300_000;
    /// 2026-12-01T00:00:00Z, when November ends.
    const MONTH_END: i64 = 1_796_083_200_000;
    /// One cent in nano-dollars.
    const CENT: i64 = 10_000_000;

    fn row(kind: &str, id: &str, budget: Value) -> TenantRow {
        TenantRow {
            id: format!("{kind}:{id}"),
            kind: kind.into(),
            key_hash: None,
            data: json!({"id": id, "name": id, "budget": budget}),
            version: 1,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot::build(
            vec![
                row(
                    "key",
                    "key_a",
                    json!({"amount": "1.00", "period": "monthly", "alert_at": 0.5,
                           "webhook": "http://127.0.0.1:9/hook"}),
                ),
                row(
                    "team",
                    "team_b",
                    json!({"amount": "2.00", "period": "monthly"}),
                ),
                row(
                    "user",
                    "carol",
                    json!({"amount": "1.00", "period": "daily"}),
                ),
            ],
            HashMap::new(),
        )
    }

    fn total(scope: &str, level: Level, committed_nano: i64) -> BudgetTotal {
        BudgetTotal {
            scope: scope.into(),
            level,
            period: Period::Monthly,
            period_id: "m202611".into(),
            resets_at: Some(MONTH_END),
            limit_nano: 100 * CENT,
            committed_nano,
        }
    }

    fn settled(budgets: Vec<BudgetTotal>) -> Settled {
        Settled { budgets }
    }

    #[test]
    fn budgets_at_or_over_their_threshold_are_due() {
        let snap = snapshot();
        // The key alerts at half of $1; the team at the default 80% of $2.
        let below = settled(vec![
            total("key:key_a", Level::Key, 50 * CENT - 1),
            total("team:team_b", Level::Team, 160 * CENT - 1),
        ]);
        assert_eq!(due(&below, &snap), []);
        let at = settled(vec![
            total("key:key_a", Level::Key, 50 * CENT),
            total("team:team_b", Level::Team, 161 * CENT),
        ]);
        let alerts = due(&at, &snap);
        let ids: Vec<_> = alerts.iter().map(|a| (a.kind, a.id.as_str())).collect();
        assert_eq!(ids, [(Kind::Key, "key_a"), (Kind::Team, "team_b")]);
        assert_eq!(
            alerts[0].webhook.as_deref(),
            Some("http://127.0.0.1:9/hook")
        );
        assert_eq!(alerts[1].webhook, None);
        assert_eq!(
            alerts[0].data(),
            json!({"level": "key", "id": "key_a", "scope": "key:key_a", "period": "monthly",
                   "period_id": "m202611", "amount_usd": 1.0, "spent_usd": 0.5,
                   "alert_at": 0.5, "threshold_usd": 0.5})
        );
    }

    #[test]
    fn unknown_tenants_and_changed_budgets_raise_nothing() {
        let snap = snapshot();
        let over = 1000 * CENT;
        let s = settled(vec![
            // No such key, not a tenant, no scope at all.
            total("key:key_gone", Level::Key, over),
            total("model:fast", Level::Model, over),
            total("nonsense", Level::Key, over),
            // The user's budget is daily now; the counter was a monthly one.
            total("user:carol", Level::User, over),
        ]);
        assert_eq!(due(&s, &snap), []);
    }

    #[test]
    fn an_alert_is_claimed_once_per_scope_and_period() {
        let alerts = Alerts::new(None, None, "sluice:");
        let over = settled(vec![total("key:key_a", Level::Key, 60 * CENT)]);
        let alert = &due(&over, &snapshot())[0];
        assert!(alerts.claim_here(&alert.key(), Some(MONTH_END), NOW));
        assert!(!alerts.claim_here(&alert.key(), Some(MONTH_END), NOW + 1));
        // Another scope, or the same scope in the next period, is raised on its own.
        assert!(alerts.claim_here("team:team_b@m202611", Some(MONTH_END), NOW));
        assert!(alerts.claim_here("key:key_a@m202612", None, MONTH_END + 1));
        assert!(!alerts.claim_here("key:key_a@m202612", None, MONTH_END + 2));
        // November's claims are forgotten once its grace hour is over.
        let later = MONTH_END + GRACE_MS + 1;
        assert!(alerts.claim_here("user:carol@d20261201", None, later));
        let mut kept: Vec<String> = alerts.raised.lock().unwrap().keys().cloned().collect();
        kept.sort();
        assert_eq!(kept, ["key:key_a@m202612", "user:carol@d20261201"]);
    }

    #[tokio::test]
    async fn replicas_sharing_redis_raise_an_alert_once() {
        const URL: &str = "redis://127.0.0.1:6379";
        let client = redis::Client::open(URL).unwrap();
        let conn = tokio::time::timeout(
            Duration::from_secs(2),
            client.get_multiplexed_async_connection(),
        )
        .await;
        let mut conn = match conn {
            Ok(Ok(conn)) => conn,
            outcome => {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!("CI=true and Redis at {URL} is not reachable: {outcome:?}");
                }
                eprintln!("skipping: no Redis at {URL}; CI=true makes this a failure");
                return;
            }
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let prefix = format!("sluice:test:alerts:{}:{nanos}:", std::process::id());
        let a = Alerts::new(None, Some(client.clone()), &prefix);
        let b = Alerts::new(None, Some(client.clone()), &prefix);
        let over = settled(vec![total("key:key_a", Level::Key, 60 * CENT)]);
        let alert = &due(&over, &snapshot())[0];
        assert!(a.claim(alert, NOW).await);
        assert!(!b.claim(alert, NOW).await);
        assert!(!a.claim(alert, NOW).await);
        // The shared key lives until an hour after the period.
        let key = format!("{prefix}alert:key:key_a@m202611");
        let ttl: i64 = redis::cmd("TTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let wanted = (MONTH_END + GRACE_MS - NOW) / 1000;
        assert!(
            (wanted - 60..=wanted + 1).contains(&ttl),
            "ttl {ttl}, wanted {wanted}"
        );
        let _: i64 = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}
