//! The binary as a user meets it: one command to start, clean stops, clear errors.

use alerting_test_support::{
    alerting_command,
    database::{Backend, TestDatabase},
    process::{Running, run},
};
use sea_orm::{EntityTrait, PaginatorTrait};

async fn health(address: &str) -> u16 {
    alerting_test_support::http()
        .get(format!("http://{address}/health"))
        .send()
        .await
        .expect("reachable")
        .status()
        .as_u16()
}

#[tokio::test]
async fn up_runs_embedded_with_nothing_configured_and_stops_on_sigterm_or_ctrl_c() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = alerting_command!(dir.path());
    command
        .env_remove("DATA_DIR")
        .env_remove("ADMIN_TOKEN")
        .arg("up");
    let mut up = Running::start(command);
    let address = up.address().await;
    let startup = up.seen.last().cloned().unwrap_or_default();
    assert!(startup.contains("embedded"), "{startup}");
    assert!(startup.contains("sqlite ./data/alerting.db"), "{startup}");
    assert_eq!(health(&address).await, 200);

    // No ADMIN_TOKEN: `up` made one, printed it once and kept it for its owner.
    let kept = std::fs::read_to_string(dir.path().join("data/admin-token")).expect("kept");
    let token = kept.trim();
    let printed = up.seen.iter().filter(|line| line.contains(token)).count();
    assert_eq!(printed, 1, "printed once: {:#?}", up.seen);
    let request = || {
        alerting::http_client::client()
            .post(format!("http://{address}/api/v1/clients"))
            .json(&serde_json::json!({"client_id": "survivor"}))
    };
    let refused = request().send().await.expect("sent");
    assert_eq!(refused.status().as_u16(), 401);
    let created = request().bearer_auth(token).send().await.expect("sent");
    assert_eq!(created.status().as_u16(), 201);

    // The container image's HEALTHCHECK.
    let mut check = alerting_command!(dir.path());
    check.args(["health", "--url", &format!("http://{address}/health")]);
    let (code, said) = run(check).await;
    assert_eq!(code, Some(0), "{said}");

    let (status, output) = up.terminate().await;
    assert!(status.success(), "exit {status:?}: {output:#?}");
    assert!(
        output.iter().any(|l| l.contains("SIGTERM received")),
        "{output:#?}"
    );
    let mut check = alerting_command!(dir.path());
    check.args(["health", "--url", &format!("http://{address}/health")]);
    let (code, said) = run(check).await;
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("unhealthy"), "{said}");
    assert!(
        dir.path().join("data/alerting.db").is_file(),
        "DATA_DIR defaults to ./data"
    );

    // The data outlives the process.
    let mut command = alerting_command!(dir.path());
    command.env_remove("DATA_DIR").arg("up");
    let mut again = Running::start(command);
    let address = again.address().await;
    let fetched = alerting_test_support::http()
        .get(format!("http://{address}/api/v1/clients/survivor"))
        .send()
        .await
        .expect("reachable");
    assert_eq!(fetched.status().as_u16(), 200);
    // Ctrl-C stops it as cleanly as SIGTERM.
    let (status, output) = again.interrupt().await;
    assert!(status.success(), "exit {status:?}: {output:#?}");
    assert!(
        output.iter().any(|l| l.contains("Ctrl-C received")),
        "{output:#?}"
    );
}

#[tokio::test]
async fn up_uses_postgres_when_database_url_is_set() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_database, url) = TestDatabase::create(Backend::Postgres).await;
    let mut with_password = url::Url::parse(&url).expect("url");
    with_password
        .set_password(Some("hunter2"))
        .expect("password");
    // Trust auth ignores the password; the log line must not show it.
    let mut command = alerting_command!(dir.path());
    command
        .env("DATABASE_URL", with_password.as_str())
        .arg("up");
    let mut up = Running::start(command);
    let address = up.address().await;
    let startup = up.seen.last().cloned().unwrap_or_default();
    assert!(
        startup.contains("distributed") && startup.contains("postgres"),
        "{startup}"
    );
    assert!(!startup.contains("hunter2"), "{startup}");

    let created = alerting_test_support::http()
        .post(format!("http://{address}/api/v1/clients"))
        .json(&serde_json::json!({"client_id": "in-postgres"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status().as_u16(), 201);
    let (status, _) = up.terminate().await;
    assert!(status.success());

    let db = alerting::db::connect_url(&url, 1).await.expect("connect");
    let count = alerting_entities::clients::Entity::find()
        .count(&db)
        .await
        .expect("count");
    assert_eq!(count, 1);
    db.close().await.ok();
}

#[tokio::test]
async fn serve_needs_a_migrated_database_and_migrate_is_idempotent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_database, url) = TestDatabase::create(Backend::Postgres).await;

    let mut serve = alerting_command!(dir.path());
    serve
        .env("DATABASE_URL", &url)
        .args(["serve", "rule-service"]);
    let (code, output) = run(serve).await;
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("run `alerting migrate` first"), "{output}");

    let mut migrate = alerting_command!(dir.path());
    migrate.env("DATABASE_URL", &url).arg("migrate");
    let (code, output) = run(migrate).await;
    assert_eq!(code, Some(0), "{output}");
    let all = {
        use alerting_migration::MigratorTrait;
        alerting_migration::Migrator::migrations().len()
    };
    assert!(
        output.contains(&format!("applied {all} migration")),
        "{output}"
    );

    let mut migrate = alerting_command!(dir.path());
    migrate.env("DATABASE_URL", &url).arg("migrate");
    let (code, output) = run(migrate).await;
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("up to date"), "{output}");

    let mut serve = alerting_command!(dir.path());
    serve
        .env("DATABASE_URL", &url)
        .args(["serve", "rule-service"]);
    let mut service = Running::start(serve);
    let address = service.address().await;
    assert_eq!(health(&address).await, 200);
    let (status, _) = service.terminate().await;
    assert!(status.success());
}

#[tokio::test]
async fn bad_configuration_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");

    let mut command = alerting_command!(dir.path());
    command
        .env("DATABASE_URL", "mysql://root:pw@localhost/db")
        .arg("up");
    let (code, output) = run(command).await;
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("DATABASE_URL must start with"), "{output}");
    assert!(!output.contains("pw@"), "{output}");

    let mut command = alerting_command!(dir.path());
    command.env("RULE_SERVICE_ADDR", "not-an-address").arg("up");
    let (code, output) = run(command).await;
    assert_eq!(code, Some(2), "{output}");
    assert!(
        output.contains("RULE_SERVICE_ADDR") || output.contains("rule-service-addr"),
        "{output}"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("addr").to_string();
    let mut command = alerting_command!(dir.path());
    command.env("RULE_SERVICE_ADDR", &address).arg("up");
    let (code, output) = run(command).await;
    assert_eq!(code, Some(1), "{output}");
    assert!(
        output.contains(&format!("cannot listen on {address}")),
        "{output}"
    );
    assert!(output.contains("RULE_SERVICE_ADDR"), "{output}");

    // A service on its own has no token to make: it refuses to start without one.
    for service in ["rule-service", "alert-producer"] {
        let mut command = alerting_command!(dir.path());
        command
            .env_remove("ADMIN_TOKEN")
            .env("KAFKA_BROKERS", "127.0.0.1:1")
            .args(["serve", service]);
        let (code, output) = run(command).await;
        assert_eq!(code, Some(1), "{output}");
        assert!(
            output.contains(&format!("{service} needs ADMIN_TOKEN")),
            "{output}"
        );
    }
    let mut command = alerting_command!(dir.path());
    command
        .env("ADMIN_TOKEN", "too-short")
        .args(["serve", "rule-service"]);
    let (code, output) = run(command).await;
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("at least 32 characters"), "{output}");
    assert!(
        !output.contains("too-short"),
        "the token is not echoed: {output}"
    );
    // Long enough, and still a pattern: one line says so.
    let weak = "a".repeat(32);
    let mut command = alerting_command!(dir.path());
    command
        .env("ADMIN_TOKEN", &weak)
        .args(["serve", "rule-service"]);
    let (code, output) = run(command).await;
    assert_eq!(code, Some(1), "{output}");
    let said: Vec<&str> = output
        .lines()
        .filter(|line| line.contains("ADMIN_TOKEN"))
        .collect();
    assert_eq!(said.len(), 1, "{output}");
    assert!(said[0].contains("too easy to guess"), "{output}");
    assert!(!output.contains(&weak), "the token is not echoed: {output}");
}

#[tokio::test]
async fn help_documents_every_command_and_variable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = alerting_command!(dir.path());
    command.arg("--help");
    let (code, help) = run(command).await;
    assert_eq!(code, Some(0));
    // The commands are listed between "Commands:" and the next blank line.
    let commands: Vec<String> = help
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .filter(|name| name != "help")
        .collect();
    for expected in [
        "up", "serve", "run", "job", "migrate", "topics", "produce", "bench",
    ] {
        assert!(
            commands.iter().any(|c| c == expected),
            "--help lists {expected}: {commands:?}"
        );
    }
    // Every variable any command reads through its flags is in the configuration
    // reference, which the top-level help points to.
    let reference = include_str!("../../docs/CONFIGURATION.md");
    let mut variables = std::collections::BTreeSet::new();
    for name in &commands {
        let mut command = alerting_command!(dir.path());
        command.args([name.as_str(), "--help"]);
        let (code, help) = run(command).await;
        assert_eq!(code, Some(0), "{name} --help");
        for rest in help.split("[env: ").skip(1) {
            let variable: String = rest
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            variables.insert(variable);
        }
    }
    assert!(variables.len() > 40, "found the variables: {variables:?}");
    for variable in [
        "DATABASE_URL",
        "KAFKA_BROKERS",
        "REDIS_URL",
        "DELIVERY_TIMEOUT",
    ] {
        assert!(variables.contains(variable), "{variable} in {variables:?}");
    }
    let undocumented: Vec<&String> = variables
        .iter()
        .filter(|v| !reference.contains(&format!("`{v}`")))
        .collect();
    assert!(
        undocumented.is_empty(),
        "not in docs/CONFIGURATION.md: {undocumented:?}"
    );
    assert!(help.contains("docs/CONFIGURATION.md"), "{help}");
    for variable in ["RUST_LOG", "LOG_FORMAT"] {
        assert!(
            reference.contains(variable),
            "the reference mentions {variable}"
        );
    }
    assert!(help.contains("LOG_FORMAT"), "{help}");
}

/// A duration setting under its old name (a number of milliseconds) still works for a
/// release, with a warning that names the new setting; the new name wins over the old.
#[tokio::test]
async fn an_old_millisecond_setting_still_works_and_names_its_successor() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = alerting_command!(dir.path());
    command
        .env("DELIVERY_TIMEOUT_MS", "2500")
        .env_remove("DELIVERY_TIMEOUT")
        .env_remove("KAFKA_BROKERS")
        .args(["topics", "create"]);
    let (code, output) = run(command).await;
    assert_eq!(code, Some(1), "no brokers: {output}");
    assert!(
        output.contains("DELIVERY_TIMEOUT_MS is deprecated")
            && output.contains("set DELIVERY_TIMEOUT=2500ms"),
        "{output}"
    );

    // A value the new setting refuses is refused under the new name.
    let mut command = alerting_command!(dir.path());
    command
        .env("DELIVERY_TIMEOUT_MS", "soon")
        .env_remove("DELIVERY_TIMEOUT")
        .args(["job", "redrive"]);
    let (code, output) = run(command).await;
    assert_eq!(code, Some(2), "{output}");
    assert!(
        output.contains("DELIVERY_TIMEOUT") && output.contains("soonms"),
        "{output}"
    );
}
