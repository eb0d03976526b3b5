//! A newer `alerting up` started on an older data folder migrates it and keeps what it
//! held: the folder of the first release (its schema, the first two migrations, with a
//! client in it), then today's binary.

use alerting_migration::{Migrator, MigratorTrait};
use alerting_test_support::{ADMIN_TOKEN, alerting_command, process::Running};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// The migrations of the first release.
const FIRST_RELEASE: u32 = 2;

#[tokio::test]
async fn up_on_a_data_folder_of_the_first_release_migrates_it_and_keeps_its_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data folder");
    let url = format!("sqlite://{}/alerting.db?mode=rwc", data.display());
    let old = alerting::db::connect_url(&url, 1).await.expect("connect");
    Migrator::up(&old, Some(FIRST_RELEASE))
        .await
        .expect("the first release's schema");
    // Written as the first release wrote it: its columns only.
    let now = chrono::Utc::now();
    old.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "INSERT INTO clients (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
        [
            "veteran".into(),
            "Since the first release".into(),
            now.into(),
            now.into(),
        ],
    ))
    .await
    .expect("a client of the first release");
    old.close().await.expect("closed");

    let mut command = alerting_command!(dir.path());
    command.arg("up");
    let mut running = Running::start(command);
    let (rules, _) = running.addresses().await;
    let pending = Migrator::migrations().len() - FIRST_RELEASE as usize;
    assert!(
        running
            .seen
            .iter()
            .any(|line| line.contains(&format!("database migrated applied={pending}"))),
        "no migration logged: {:?}",
        running.seen
    );
    let client = alerting::http_client::client()
        .get(format!("http://{rules}/api/v1/clients/veteran"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("sent");
    assert_eq!(client.status(), 200);
    let client: serde_json::Value = client.json().await.expect("json");
    assert_eq!(client["name"], "Since the first release", "{client}");
    let (status, _) = running.terminate().await;
    assert!(status.success(), "{status}");
}
