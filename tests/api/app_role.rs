//! The application's own Postgres role, as `alerting migrate` makes it from
//! DATABASE_APP_URL (what the migrate task does on AWS): it logs in with the URL's
//! password, reads and writes rows and can touch neither the schema nor the migration
//! history; migrate run again sets a new password; a URL that names the owner, or no
//! password, is refused before anything changes. (Every other API test on Postgres
//! runs its service as such a role: the rights are enough for the whole API.)

use alerting_test_support::{
    alerting_command,
    database::{self, Backend, TestDatabase, postgres_admin_url},
    process::run,
};
use sea_orm::{ConnectionTrait, DatabaseConnection};

/// `alerting migrate` on `owner_url`, with DATABASE_APP_URL when given.
async fn migrate(owner_url: &str, app_url: Option<&str>) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = alerting_command!(dir.path());
    command.env("DATABASE_URL", owner_url).arg("migrate");
    if let Some(app_url) = app_url {
        command.env("DATABASE_APP_URL", app_url);
    }
    run(command).await
}

fn as_user(url: &str, user: &str, password: &str) -> String {
    let mut url = url::Url::parse(url).expect("a URL");
    url.set_username(user).expect("user");
    url.set_password(Some(password)).expect("password");
    url.to_string()
}

async fn refused(db: &DatabaseConnection, statement: &str) -> String {
    match db.execute_unprepared(statement).await {
        Ok(_) => panic!("the application's role may run {statement}"),
        Err(err) => err.to_string(),
    }
}

#[tokio::test]
async fn migrate_makes_a_role_that_reads_and_writes_rows_and_nothing_more() {
    let (database, owner_url) = TestDatabase::create(Backend::Postgres).await;
    let role = format!(
        "alerting_role_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let app_url = as_user(&owner_url, &role, "first-Password-1");

    let (code, output) = migrate(&owner_url, Some(&app_url)).await;
    assert_eq!(code, Some(0), "{output}");
    assert!(
        output.contains(&format!("role {role} may read and write the tables")),
        "{output}"
    );
    assert!(!output.contains("first-Password-1"), "{output}");

    let admin = alerting::db::connect_url(&postgres_admin_url(), 1)
        .await
        .expect("admin");
    database::check_password_of(&admin, &role).await;
    assert!(
        alerting::db::connect_url(&as_user(&owner_url, &role, "wrong"), 1)
            .await
            .is_err(),
        "the server let {role} in with a wrong password: it must check the passwords of \
         alerting_password_checked's members (scripts/dev-services sets pg_hba.conf so)"
    );
    let app = alerting::db::connect_url(&app_url, 1)
        .await
        .expect("the role logs in with the URL's password");
    alerting::db::require_current_schema(&app)
        .await
        .expect("it reads the migration history");
    app.execute_unprepared(
        "INSERT INTO clients (id, name, created_at, updated_at) \
         VALUES ('role-test', 'role test', now(), now())",
    )
    .await
    .expect("it writes rows");
    app.execute_unprepared("DELETE FROM clients WHERE id = 'role-test'")
        .await
        .expect("and deletes them");

    let create = refused(&app, "CREATE TABLE intruder (id integer)").await;
    assert!(create.contains("permission denied"), "{create}");
    let dropped = refused(&app, "DROP TABLE rules").await;
    assert!(dropped.contains("must be owner"), "{dropped}");
    let alter = refused(
        &app,
        "ALTER TABLE notifications ADD COLUMN intruder integer",
    )
    .await;
    assert!(alter.contains("must be owner"), "{alter}");
    let history = refused(&app, "DELETE FROM seaql_migrations").await;
    assert!(history.contains("permission denied"), "{history}");
    app.close().await.ok();

    // Again, with another password: the new one logs in, the old one no longer.
    let rotated = as_user(&owner_url, &role, "second-Password-2");
    let (code, output) = migrate(&owner_url, Some(&rotated)).await;
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("is up to date"), "{output}");
    alerting::db::connect_url(&rotated, 1)
        .await
        .expect("the new password logs in");
    assert!(
        alerting::db::connect_url(&app_url, 1).await.is_err(),
        "the old password still logs in"
    );

    drop(database);
    admin
        .execute_unprepared(&format!("DROP ROLE IF EXISTS \"{role}\""))
        .await
        .expect("drop the role");
}

#[tokio::test]
async fn migrate_refuses_an_application_url_it_cannot_use_before_changing_anything() {
    let (_database, owner_url) = TestDatabase::create(Backend::Postgres).await;
    let owner = url::Url::parse(&owner_url)
        .expect("URL")
        .username()
        .to_owned();
    let cases = [
        (
            as_user(&owner_url, &owner, "whatever"),
            "the user DATABASE_URL connects as",
        ),
        (
            as_user(&owner_url, "Mixed_Case", "whatever"),
            "is not a plain role name",
        ),
        (
            format!("postgres://alerting_app@{}/x", "127.0.0.1"),
            "must name a Postgres user and its password",
        ),
    ];
    for (app_url, expected) in cases {
        let (code, output) = migrate(&owner_url, Some(&app_url)).await;
        assert_eq!(code, Some(1), "{app_url}: {output}");
        assert!(output.contains("DATABASE_APP_URL"), "{output}");
        assert!(output.contains(expected), "{expected}: {output}");
        assert!(
            !output.contains("whatever"),
            "the password was printed: {output}"
        );
    }
}
