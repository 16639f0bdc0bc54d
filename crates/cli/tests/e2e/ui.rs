//! The dashboard over HTTP: sign-in and its cookies, redirects without a session, CSRF
//! refusals, read-only viewers, keys made and revoked through its forms, and an overview
//! that counts what was sent. (The same flows in a real browser: `ui-tests/`.)

use std::collections::HashMap;
use std::time::{Duration, Instant};

use http::Method;
use serde_json::{Value, json};

use crate::harness::{Resp, Sluice, admin_call, post_as, send};

const ADMIN: &str = "sk-admin-ui-0123456789";
const VIEWER_PASSWORD: &str = "viewer-password-1";
const VIEWER_KEY: &str = "viewer-key-0123456789";

fn gateway() -> Sluice {
    Sluice::start(&format!(
        r#"
server: {{ admin_key: {ADMIN} }}
logging: {{ batch_interval: 20ms }}
ui:
  viewers:
    - {{ name: alice, password: {VIEWER_PASSWORD} }}
    - {{ name: wall, key: {VIEWER_KEY} }}
providers:
  demo: {{ kind: demo }}
models:
  - name: fast
    targets: [ {{ provider: demo, model: demo }} ]
"#
    ))
}

/// A client that keeps the cookies the dashboard sets, like a browser.
struct Browser<'g> {
    g: &'g Sluice,
    cookies: HashMap<String, String>,
}

impl<'g> Browser<'g> {
    fn new(g: &'g Sluice) -> Self {
        Self {
            g,
            cookies: HashMap::new(),
        }
    }

    async fn request(&mut self, method: Method, path: &str, form: &[(&str, &str)]) -> Resp {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let cookie = cookie.join("; ");
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
        if !cookie.is_empty() {
            headers.push(("cookie", cookie.as_str()));
        }
        let r = send(method, &self.g.url(path), &headers, body.join("&")).await;
        for set in r.headers.get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, _) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        r
    }

    async fn get(&mut self, path: &str) -> Resp {
        self.request(Method::GET, path, &[]).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.request(Method::POST, path, form).await
    }

    /// Signs in with `secret` (and a viewer `name`); returns the sign-in's answer.
    async fn sign_in(&mut self, name: &str, secret: &str) -> Resp {
        let form = self.get("/ui/login").await;
        let token = csrf_of(&form);
        self.post(
            "/ui/login",
            &[("_csrf", &token), ("name", name), ("secret", secret)],
        )
        .await
    }

    /// The CSRF token of the session, read from a page's sign-out form.
    async fn token(&mut self) -> String {
        csrf_of(&self.get("/ui").await)
    }
}

fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The first `_csrf` value in a page.
fn csrf_of(page: &Resp) -> String {
    let text = page.text();
    let start = text
        .find(r#"name="_csrf" value=""#)
        .unwrap_or_else(|| panic!("no CSRF field in: {text}"))
        + r#"name="_csrf" value=""#.len();
    text[start..].split('"').next().unwrap().to_owned()
}

fn location(r: &Resp) -> &str {
    r.header("location").unwrap_or_default()
}

/// The text of the overview card `metric`.
fn metric(page: &Resp, metric: &str) -> String {
    let text = page.text();
    let marker = format!(r#"data-metric="{metric}">"#);
    let start = text
        .find(&marker)
        .unwrap_or_else(|| panic!("no {metric} in {text}"))
        + marker.len();
    text[start..].split('<').next().unwrap().to_owned()
}

async fn keys(g: &Sluice) -> Vec<Value> {
    let r = admin_call(g, ADMIN, Method::GET, "/admin/v1/keys", Value::Null).await;
    r.json()["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn without_a_session_every_page_redirects_to_sign_in() {
    let g = gateway();
    for path in [
        "/ui",
        "/ui/",
        "/ui/logs",
        "/ui/logs/req_1",
        "/ui/keys",
        "/ui/models",
        "/ui/cache",
        "/ui/no-such-page",
    ] {
        let r = send(Method::GET, &g.url(path), &[], "").await;
        assert_eq!(
            (r.status, location(&r)),
            (303, "/ui/login"),
            "{path}: {}",
            r.text()
        );
    }
    let r = send(Method::POST, &g.url("/ui/keys"), &[], "name=x").await;
    assert_eq!((r.status, location(&r)), (303, "/ui/login"));
    // A made-up session is no session.
    let r = send(
        Method::GET,
        &g.url("/ui"),
        &[("cookie", "sluice_session=forged")],
        "",
    )
    .await;
    assert_eq!(r.status, 303);
    // The stylesheet needs no session: the sign-in page uses it.
    let login = send(Method::GET, &g.url("/ui/login"), &[], "").await;
    assert_eq!(login.status, 200);
    let css = login
        .text()
        .split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let r = send(Method::GET, &g.url(&css), &[], "").await;
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("text/css; charset=utf-8"))
    );
}

#[tokio::test]
async fn the_admin_key_signs_in_with_a_strict_session_cookie() {
    let g = gateway();
    let mut b = Browser::new(&g);
    let wrong = b.sign_in("", "sk-admin-wrong").await;
    assert_eq!(wrong.status, 401, "{}", wrong.text());
    assert!(!b.cookies.contains_key("sluice_session"));

    let r = b.sign_in("", ADMIN).await;
    assert_eq!((r.status, location(&r)), (303, "/ui"));
    let set: Vec<&str> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let session = set
        .iter()
        .find(|c| c.starts_with("sluice_session="))
        .unwrap();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/ui"] {
        assert!(session.contains(attribute), "{session}");
    }
    let page = b.get("/ui").await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("Signed in as admin"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    // Signing in again from a signed-in browser goes to the dashboard.
    assert_eq!(location(&b.get("/ui/login").await), "/ui");

    let token = b.token().await;
    let out = b.post("/ui/logout", &[("_csrf", &token)]).await;
    assert_eq!((out.status, location(&out)), (303, "/ui/login"));
    assert_eq!(b.get("/ui").await.status, 303);
}

#[tokio::test]
async fn forms_without_the_session_token_are_refused() {
    let g = gateway();
    let mut b = Browser::new(&g);
    assert_eq!(b.sign_in("", ADMIN).await.status, 303);
    let r = b.post("/ui/keys", &[("name", "no-token")]).await;
    assert_eq!(r.status, 403, "{}", r.text());
    let r = b
        .post("/ui/keys", &[("_csrf", "0000"), ("name", "bad-token")])
        .await;
    assert_eq!(r.status, 403);
    let r = b.post("/ui/cache/purge", &[]).await;
    assert_eq!(r.status, 403);
    assert!(keys(&g).await.is_empty());
    // The sign-in form needs its own token, from its cookie.
    let mut stranger = Browser::new(&g);
    let r = stranger
        .post("/ui/login", &[("_csrf", "x"), ("secret", ADMIN)])
        .await;
    assert_eq!(r.status, 403);
    assert!(!stranger.cookies.contains_key("sluice_session"));
}

#[tokio::test]
async fn viewers_can_read_but_not_change() {
    let g = gateway();
    let mut alice = Browser::new(&g);
    assert_eq!(alice.sign_in("bob", VIEWER_PASSWORD).await.status, 401);
    assert_eq!(alice.sign_in("alice", VIEWER_PASSWORD).await.status, 303);
    for path in [
        "/ui",
        "/ui/logs",
        "/ui/keys",
        "/ui/teams",
        "/ui/models",
        "/ui/cache",
    ] {
        let r = alice.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(r.text().contains("alice (viewer)"));
    }
    let keys_page = alice.get("/ui/keys").await.text();
    assert!(
        !keys_page.contains("Create a key"),
        "viewers get no create form"
    );
    let token = alice.token().await;
    let r = alice
        .post("/ui/keys", &[("_csrf", &token), ("name", "sneaky")])
        .await;
    assert_eq!(r.status, 403);
    assert!(
        r.text()
            .contains("Viewers can look but not change anything")
    );
    let r = alice.post("/ui/cache/purge", &[("_csrf", &token)]).await;
    assert_eq!(r.status, 403);
    assert!(keys(&g).await.is_empty());

    // A viewer key signs in alone; the admin key with a viewer's name does not.
    let mut wall = Browser::new(&g);
    assert_eq!(wall.sign_in("", VIEWER_KEY).await.status, 303);
    assert!(wall.get("/ui").await.text().contains("wall (viewer)"));
    assert_eq!(Browser::new(&g).sign_in("alice", ADMIN).await.status, 401);
}

#[tokio::test]
async fn keys_made_in_the_dashboard_work_until_revoked_there() {
    let g = gateway();
    let mut b = Browser::new(&g);
    b.sign_in("", ADMIN).await;
    let token = b.token().await;
    let created = b
        .post(
            "/ui/keys",
            &[
                ("_csrf", &token),
                ("name", "ui-bot"),
                ("models", "fast"),
                ("rpm", "100"),
                ("budget_amount", "5"),
            ],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let page = created.text();
    let secret = page
        .split(r#"<code id="new-secret" data-secret>"#)
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("sk-sluice-"), "{secret}");
    let listed = keys(&g).await;
    assert_eq!(
        (listed[0]["name"].as_str(), listed[0]["rpm"].as_u64()),
        (Some("ui-bot"), Some(100))
    );
    assert_eq!(listed[0]["budget"]["amount"], "5.00");
    // Shown once: the list page does not show it again.
    assert!(!b.get("/ui/keys").await.text().contains(&secret));

    let chat = json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}]});
    let url = g.url("/v1/chat/completions");
    assert_eq!(post_as(&url, &secret, &chat, &[]).await.status, 200);

    // Edit: a lower RPM and no budget.
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    let r = b
        .post(
            &format!("/ui/keys/{id}"),
            &[
                ("_csrf", &token),
                ("name", "ui-bot"),
                ("models", "fast"),
                ("rpm", "50"),
                ("budget_amount", ""),
            ],
        )
        .await;
    assert_eq!((r.status, location(&r)), (303, "/ui/keys"), "{}", r.text());
    let edited = &keys(&g).await[0];
    assert_eq!(edited["rpm"], 50);
    assert!(edited.get("budget").is_none(), "{edited}");

    let r = b
        .post(&format!("/ui/keys/{id}/revoke"), &[("_csrf", &token)])
        .await;
    assert_eq!((r.status, location(&r)), (303, "/ui/keys"));
    let refused = post_as(&url, &secret, &chat, &[]).await;
    assert_eq!(refused.status, 401, "{}", refused.text());
    assert!(b.get("/ui/keys").await.text().contains("revoked"));
}

#[tokio::test]
async fn the_overview_counts_what_was_sent() {
    let g = gateway();
    let url = g.url("/v1/chat/completions");
    for model in ["fast", "fast", "fast", "no-such-model"] {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        post_as(&url, ADMIN, &body, &[]).await;
    }
    let mut b = Browser::new(&g);
    b.sign_in("", ADMIN).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let page = b.get("/ui?range=1h").await;
        if metric(&page, "requests") == "4" || Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(metric(&page, "requests"), "4", "{}", page.text());
    assert_eq!(metric(&page, "error-rate"), "25.0%");
    assert_eq!(metric(&page, "cost"), "$0.00");
    assert!(
        page.text().contains(r#"href="/ui/logs?model=fast""#),
        "the model breakdown links to its logs"
    );
    let bad = b.get("/ui?range=2w").await;
    assert_eq!(bad.status, 400);
    // The logs explorer filters by status.
    let errors = b.get("/ui/logs?status=error").await;
    assert_eq!(errors.status, 200);
    assert_eq!(
        errors.text().matches("class=\"badge warn\"").count(),
        1,
        "{}",
        errors.text()
    );
    let bad = b.get("/ui/logs?status=ok").await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("invalid `status`"));
}

#[tokio::test]
async fn a_disabled_dashboard_is_not_served() {
    let g = Sluice::start(&format!(
        "server: {{ admin_key: {ADMIN} }}\nui: {{ enabled: false }}\n"
    ));
    for path in ["/ui", "/ui/login"] {
        let r = send(Method::GET, &g.url(path), &[], "").await;
        assert_eq!(r.status, 404, "{path}: {}", r.text());
    }
}
