//! The database connection over TLS, as an operator meets it: the start-up line says
//! how the connection travels, `verify-full` accepts a server whose certificate the
//! named CA signed for the host connected to, and anything else stops the service at
//! start with one line saying what to change.

use std::time::Duration;

use alerting_test_support::{
    alerting_command,
    database::{Backend, TestDatabase},
    process::{Running, run_within},
    tls::{TestCa, TlsPostgres},
};

/// Refused at once: no retry loop.
const REFUSED_WITHIN: Duration = Duration::from_secs(30);

/// The first line of `alerting serve rule-service` on `database_url`, or its exit and
/// output when it does not start.
async fn rule_service(database_url: &str) -> Result<String, (Option<i32>, String)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut migrate = alerting_command!(dir.path());
    migrate.env("DATABASE_URL", database_url).arg("migrate");
    let (code, output) = run_within(migrate, REFUSED_WITHIN).await;
    if code != Some(0) {
        return Err((code, output));
    }
    let mut serve = alerting_command!(dir.path());
    serve
        .env("DATABASE_URL", database_url)
        .args(["serve", "rule-service"]);
    let mut service = Running::start(serve);
    service.address().await;
    let startup = service.seen.last().cloned().unwrap_or_default();
    let (status, _) = service.terminate().await;
    assert!(status.success());
    Ok(startup)
}

/// The one ERROR line of a refused start.
fn the_error(refused: Result<String, (Option<i32>, String)>) -> String {
    let (code, output) = refused.expect_err("refused");
    assert_eq!(code, Some(1), "{output}");
    let errors: Vec<&str> = output.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "one line: {output}");
    errors[0].to_owned()
}

#[tokio::test]
async fn the_start_up_line_says_whether_the_database_connection_is_encrypted() {
    let (_database, url) = TestDatabase::create(Backend::Postgres).await;
    for (sslmode, says) in [("require", " over TLSv1"), ("disable", " without TLS")] {
        let mut with_mode = url::Url::parse(&url).expect("url");
        with_mode.query_pairs_mut().append_pair("sslmode", sslmode);
        let startup = rule_service(with_mode.as_str()).await.expect("starts");
        assert!(
            startup.contains(&format!("sslmode={sslmode}{says}")),
            "sslmode={sslmode} (the test cluster must have ssl = on, Debian's default): {startup}"
        );
    }
}

/// `verify-full` against a server of the test's own: its certificate, for `localhost`,
/// signed by a CA the test made.
#[tokio::test]
async fn verify_full_takes_only_the_named_ca_and_the_certified_host() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = TestCa::new("the database's CA");
    let postgres = TlsPostgres::start(&ca).await;
    let trusted = ca.write(dir.path());
    let trusted = trusted.display().to_string();

    let verified = postgres.url(
        "localhost",
        &[("sslmode", "verify-full"), ("sslrootcert", &trusted)],
    );
    let startup = rule_service(&verified).await.expect("starts");
    assert!(startup.contains("verify-full"), "{startup}");
    assert!(startup.contains(" over TLSv1"), "{startup}");

    let other_dir = tempfile::tempdir().expect("dir");
    let other = TestCa::new("a CA the database never saw").write(other_dir.path());
    let untrusted = postgres.url(
        "localhost",
        &[
            ("sslmode", "verify-full"),
            ("sslrootcert", &other.display().to_string()),
        ],
    );
    let error = the_error(rule_service(&untrusted).await);
    assert!(
        error.contains("certificate is not trusted") && error.contains("sslrootcert"),
        "says what to fix: {error}"
    );

    // The certificate names `localhost`; by address, the host is not the one certified.
    let by_address = postgres.url(
        "127.0.0.1",
        &[("sslmode", "verify-full"), ("sslrootcert", &trusted)],
    );
    let error = the_error(rule_service(&by_address).await);
    assert!(
        error.contains("connect by the name the certificate carries"),
        "says what to fix: {error}"
    );
}
