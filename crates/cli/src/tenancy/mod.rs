//! `sluice keys`, `teams`, `users`, `orgs` and `spend`: the tenancy admin API from a shell.
//!
//! The four kinds share one implementation. Each kind contributes only a small struct of the
//! flags that are its own ([`KeyFields`], [`TeamFields`], …, through [`OwnFields`]); the
//! limit flags ([`Limits`]), the subcommands ([`TenantCommand`]) and the code that turns
//! flags into a request body, sends it and prints the answer are written once. A create is
//! a `POST` of the given fields; an update is a JSON merge patch of only the given fields,
//! with `--clear` sending `null` to remove one. Output is a table or a `field: value` view
//! ([`view`]), or the API's own JSON with `--json`.

mod fields;
pub mod spend;
mod view;

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Map, Value};

pub use fields::{KeyFields, Limits, OrgFields, OwnFields, TeamFields, UserFields};
use fields::{clear_parser, cleared_field, put};

use crate::admin::{AdminArgs, AdminClient, encode, run_command};

/// The kinds of tenant the admin API manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Virtual keys.
    Key,
    /// Teams.
    Team,
    /// End users.
    User,
    /// Organisations.
    Org,
}

impl Kind {
    /// The singular name, as the API's `object` field spells it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Key => "key",
            Kind::Team => "team",
            Kind::User => "user",
            Kind::Org => "org",
        }
    }

    /// The collection's path under `/admin/v1/`.
    fn path(self) -> &'static str {
        match self {
            Kind::Key => "keys",
            Kind::Team => "teams",
            Kind::User => "users",
            Kind::Org => "orgs",
        }
    }
}

/// The subcommands every kind has.
#[derive(Subcommand, Debug)]
pub enum TenantCommand<F: OwnFields> {
    /// Create one (a key's secret is printed this once).
    Create {
        /// The id: required for a user (the name its requests carry in x-sluice-user or
        /// `user`); generated for the others when omitted.
        #[arg(long)]
        id: Option<String>,
        #[command(flatten)]
        limits: Limits,
        #[command(flatten)]
        own: F,
    },
    /// List all, with their limits and budgets.
    List,
    /// Show one, every field.
    Get {
        /// The id.
        id: String,
    },
    /// Change the given fields; the others stay as they are.
    Update {
        /// The id.
        id: String,
        #[command(flatten)]
        limits: Limits,
        #[command(flatten)]
        own: F,
        /// Remove these fields (comma-separated or repeated), e.g. --clear budget,rpm.
        #[arg(long, value_name = "FIELD", value_delimiter = ',', value_parser = clear_parser::<F>())]
        clear: Vec<String>,
    },
    /// Delete one (a key is revoked instead, and its record stays for the logs).
    Delete {
        /// The id.
        id: String,
    },
}

/// `sluice keys`: the common subcommands plus revoke and rotate.
#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    #[command(flatten)]
    Common(Box<TenantCommand<KeyFields>>),
    /// Revoke a key: it stops working at once; its record stays for the logs.
    Revoke {
        /// The key's id.
        id: String,
    },
    /// Give a key a new secret (printed this once); the old secret stops working at once.
    Rotate {
        /// The key's id.
        id: String,
    },
}

/// The options and subcommand of one kind's command.
#[derive(Args, Debug)]
pub struct TenantArgs<C: Subcommand> {
    #[command(flatten)]
    admin: AdminArgs,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: C,
}

/// `sluice keys …`.
pub type KeysArgs = TenantArgs<KeysCommand>;
/// `sluice teams …`.
pub type TeamsArgs = TenantArgs<TenantCommand<TeamFields>>;
/// `sluice users …`.
pub type UsersArgs = TenantArgs<TenantCommand<UserFields>>;
/// `sluice orgs …`.
pub type OrgsArgs = TenantArgs<TenantCommand<OrgFields>>;

/// One admin API call, with what it needs.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// `POST` the body to the collection.
    Create(Value),
    /// `GET` the collection.
    List,
    /// `GET` the document with this id.
    Get(String),
    /// `PATCH` the document with this id with a merge patch.
    Update(String, Value),
    /// `DELETE` the document with this id.
    Delete(String),
    /// Revoke the key with this id.
    Revoke(String),
    /// Give the key with this id a new secret.
    Rotate(String),
}

/// A parsed subcommand, as the kind it manages and the call it makes.
pub trait IntoAction: Subcommand {
    /// The kind and the call; flags that make no sense together are an error.
    fn into_action(self) -> Result<(Kind, Action), String>;
}

impl<F: OwnFields> IntoAction for TenantCommand<F> {
    fn into_action(self) -> Result<(Kind, Action), String> {
        let action = match self {
            TenantCommand::Create { id, limits, own } => {
                let mut body = Map::new();
                put(&mut body, "id", &id);
                limits.write(&mut body, true)?;
                own.write(&mut body);
                Action::Create(Value::Object(body))
            }
            TenantCommand::List => Action::List,
            TenantCommand::Get { id } => Action::Get(id),
            TenantCommand::Update {
                id,
                limits,
                own,
                clear,
            } => {
                let mut patch = Map::new();
                limits.write(&mut patch, false)?;
                own.write(&mut patch);
                for flag in &clear {
                    let Some(field) = cleared_field::<F>(flag) else {
                        return Err(format!("--clear: unknown field {flag:?}"));
                    };
                    if patch.contains_key(field) {
                        return Err(format!("--clear {flag} contradicts the value given for it"));
                    }
                    patch.insert(field.into(), Value::Null);
                }
                if patch.is_empty() {
                    return Err("nothing to change: give at least one flag".into());
                }
                Action::Update(id, Value::Object(patch))
            }
            TenantCommand::Delete { id } => Action::Delete(id),
        };
        Ok((F::KIND, action))
    }
}

impl IntoAction for KeysCommand {
    fn into_action(self) -> Result<(Kind, Action), String> {
        match self {
            KeysCommand::Common(c) => c.into_action(),
            KeysCommand::Revoke { id } => Ok((Kind::Key, Action::Revoke(id))),
            KeysCommand::Rotate { id } => Ok((Kind::Key, Action::Rotate(id))),
        }
    }
}

/// Runs one kind's command.
pub fn run<C: IntoAction>(args: TenantArgs<C>) -> ExitCode {
    run_command(async move {
        let (kind, action) = args.command.into_action()?;
        let client = AdminClient::new(&args.admin);
        let answer = call(&client, kind, &action).await?;
        if args.json {
            let text = serde_json::to_string_pretty(&answer).map_err(|e| e.to_string())?;
            println!("{text}");
        } else {
            print!("{}", view::render(kind, &action, &answer));
        }
        Ok(())
    })
}

/// Makes the call and returns the API's answer.
async fn call(client: &AdminClient, kind: Kind, action: &Action) -> Result<Value, String> {
    let base = format!("/admin/v1/{}", kind.path());
    let one = |id: &str| format!("{base}/{}", encode(id));
    match action {
        Action::Create(body) => client.post_json(&base, body).await,
        Action::List => client.get_json(&base).await,
        Action::Get(id) => client.get_json(&one(id)).await,
        Action::Update(id, patch) => client.patch_json(&one(id), patch).await,
        Action::Delete(id) => client.delete_json(&one(id)).await,
        Action::Revoke(id) => {
            let path = format!("{}/revoke", one(id));
            client.request(http::Method::POST, &path, None).await
        }
        Action::Rotate(id) => {
            let path = format!("{}/rotate", one(id));
            client.request(http::Method::POST, &path, None).await
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use serde_json::json;

    use super::*;

    #[derive(Parser)]
    struct Probe {
        #[command(subcommand)]
        command: Cmd,
    }

    #[derive(Subcommand)]
    enum Cmd {
        Keys(KeysArgs),
        Teams(TeamsArgs),
        Users(UsersArgs),
        Orgs(OrgsArgs),
    }

    /// What `sluice <args>` would send, or why it refuses.
    fn action(args: &str) -> Result<(Kind, Action), String> {
        let argv = std::iter::once("sluice").chain(args.split_whitespace());
        let probe = Probe::try_parse_from(argv).map_err(|e| e.to_string())?;
        match probe.command {
            Cmd::Keys(a) => a.command.into_action(),
            Cmd::Teams(a) => a.command.into_action(),
            Cmd::Users(a) => a.command.into_action(),
            Cmd::Orgs(a) => a.command.into_action(),
        }
    }

    fn created(args: &str) -> Value {
        match action(args) {
            Ok((_, Action::Create(body))) => body,
            other => panic!("{args}: {other:?}"),
        }
    }

    fn patched(args: &str) -> Value {
        match action(args) {
            Ok((_, Action::Update(_, patch))) => patch,
            other => panic!("{args}: {other:?}"),
        }
    }

    #[test]
    fn key_flags_become_the_create_body() {
        let body = created(
            "keys create --name bot --team team_1 --user alice --models fast,openai/* \
             --rpm 600 --tpm 200000 --max-parallel 20 --budget 50.00 --period daily \
             --alert-at 0.5 --webhook https://hooks.example/b --expires 2026-12-31T00:00:00Z \
             --tag env=prod --tag owner=a=b",
        );
        assert_eq!(
            body,
            json!({
                "name": "bot", "team": "team_1", "user": "alice",
                "models": ["fast", "openai/*"], "rpm": 600, "tpm": 200000, "max_parallel": 20,
                "budget": {"amount": "50.00", "period": "daily", "alert_at": 0.5,
                           "webhook": "https://hooks.example/b"},
                "expires_at": "2026-12-31T00:00:00Z",
                "tags": {"env": "prod", "owner": "a=b"},
            })
        );
        assert_eq!(created("keys create --name k"), json!({"name": "k"}));
    }

    #[test]
    fn a_budget_is_monthly_unless_told_and_needs_an_amount_on_create() {
        assert_eq!(
            created("teams create --name t --budget 5")["budget"],
            json!({"amount": "5", "period": "monthly"})
        );
        let e = action("keys create --name k --period weekly").unwrap_err();
        assert!(e.contains("need --budget"), "{e}");
        // An update patches only what is given: the amount stays.
        assert_eq!(
            patched("keys update key_1 --period weekly"),
            json!({"budget": {"period": "weekly"}})
        );
    }

    #[test]
    fn updates_send_only_given_fields_and_clear_sends_null() {
        let (kind, act) =
            action("keys update key_1 --rpm 5 --clear budget,expires --clear tags").unwrap();
        assert_eq!(kind, Kind::Key);
        assert_eq!(
            act,
            Action::Update(
                "key_1".into(),
                json!({"rpm": 5, "budget": null, "expires_at": null, "tags": null})
            )
        );
        assert_eq!(
            patched("teams update team_1 --clear max-parallel,org"),
            json!({"max_parallel": null, "org": null})
        );
        let e = action("keys update key_1").unwrap_err();
        assert!(e.contains("nothing to change"), "{e}");
        let e = action("keys update key_1 --rpm 5 --clear rpm").unwrap_err();
        assert!(e.contains("contradicts"), "{e}");
        // Each kind clears only its own fields.
        let e = action("keys update key_1 --clear org").unwrap_err();
        assert!(e.contains("invalid value 'org'"), "{e}");
    }

    #[test]
    fn each_kind_takes_its_own_flags() {
        assert_eq!(
            created("teams create --id team_search --name Search --org org_1"),
            json!({"id": "team_search", "name": "Search", "org": "org_1"})
        );
        assert_eq!(
            created("users create --id alice --team team_1 --rpm 10"),
            json!({"id": "alice", "team": "team_1", "rpm": 10})
        );
        assert_eq!(action("orgs create --name Acme").unwrap().0, Kind::Org);
        assert!(action("orgs create --team t").is_err());
        assert!(action("teams create --expires 2026-01-01T00:00:00Z").is_err());
        assert!(action("keys create --org o").is_err());
    }

    #[test]
    fn subcommands_map_to_calls() {
        assert_eq!(action("keys list").unwrap(), (Kind::Key, Action::List));
        assert_eq!(
            action("users get alice").unwrap(),
            (Kind::User, Action::Get("alice".into()))
        );
        assert_eq!(
            action("keys revoke key_1").unwrap(),
            (Kind::Key, Action::Revoke("key_1".into()))
        );
        assert_eq!(
            action("keys rotate key_1").unwrap(),
            (Kind::Key, Action::Rotate("key_1".into()))
        );
        assert_eq!(
            action("teams delete team_1").unwrap(),
            (Kind::Team, Action::Delete("team_1".into()))
        );
        // Only keys revoke and rotate.
        assert!(action("teams revoke team_1").is_err());
        // The gateway flags and --json go before or after the subcommand.
        assert!(action("keys --json --url http://gw:4000 list").is_ok());
        assert!(action("keys list --json --admin-key sk-admin").is_ok());
    }

    #[test]
    fn bad_flag_values_are_refused() {
        let e = action("keys create --name k --tag env").unwrap_err();
        assert!(e.contains("expected key=value"), "{e}");
        assert!(action("keys create --name k --rpm -1").is_err());
        assert!(action("keys create --name k --period yearly").is_err());
    }
}
