//! What upstream response headers say about waiting: `Retry-After` on errors, and the
//! OpenAI-style `x-ratelimit-remaining-*` / `x-ratelimit-reset-*` pair on any answer, which
//! lets the router steer away from a target before it starts answering 429.

use std::time::Duration;

use http::HeaderMap;

/// How long to wait before retrying: `retry-after-ms`, else `retry-after` in seconds.
pub(crate) fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        h.get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0)
    };
    if let Some(ms) = number("retry-after-ms") {
        return Duration::try_from_secs_f64(ms / 1000.0).ok();
    }
    Duration::try_from_secs_f64(number("retry-after")?).ok()
}

/// When the upstream says no requests (or tokens) remain in its window: until the window
/// resets (`x-ratelimit-reset-*`, like `1s` or `6m0s`), or a second when it does not say.
pub(crate) fn exhausted_for(h: &HeaderMap) -> Option<Duration> {
    let mut wait: Option<Duration> = None;
    for kind in ["requests", "tokens"] {
        let remaining = h
            .get(format!("x-ratelimit-remaining-{kind}"))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if remaining != Some(0) {
            continue;
        }
        let reset = h
            .get(format!("x-ratelimit-reset-{kind}"))
            .and_then(|v| v.to_str().ok())
            .and_then(go_duration)
            .unwrap_or(Duration::from_secs(1));
        wait = Some(wait.map_or(reset, |w| w.max(reset)));
    }
    wait
}

/// Parses durations as OpenAI writes them: `20ms`, `1s`, `1.5s`, `6m0s`, `1h2m3s`.
fn go_duration(text: &str) -> Option<Duration> {
    let mut total = 0.0f64;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let split = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let (num, tail) = rest.split_at(split);
        let value: f64 = num.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        total += value
            * match unit {
                "ms" => 0.001,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                _ => return None,
            };
        rest = next;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_milliseconds() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn exhaustion_is_read_from_remaining_and_reset() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-ratelimit-remaining-requests",
            HeaderValue::from_static("12"),
        );
        assert_eq!(exhausted_for(&h), None);
        h.insert(
            "x-ratelimit-remaining-tokens",
            HeaderValue::from_static("0"),
        );
        h.insert("x-ratelimit-reset-tokens", HeaderValue::from_static("6m0s"));
        assert_eq!(exhausted_for(&h), Some(Duration::from_secs(360)));
        h.insert(
            "x-ratelimit-remaining-requests",
            HeaderValue::from_static("0"),
        );
        h.insert(
            "x-ratelimit-reset-requests",
            HeaderValue::from_static("20ms"),
        );
        assert_eq!(exhausted_for(&h), Some(Duration::from_secs(360)));
        assert_eq!(go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(go_duration("1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(go_duration("soon"), None);
    }
}
