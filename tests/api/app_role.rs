//! The application's own Postgres role, as `alerting migrate` makes it from
//! DATABASE_APP_URL (what the migrate task does on AWS), run by an owner made as RDS
//! makes its master user (CREATEROLE, no superuser): the role logs in with the URL's
//! password, reads and writes rows and can touch neither the schema nor the migration
//! history; migrate run again sets a new password; a URL it cannot use is refused
//! before anything changes. (Every other API test on Postgres runs its service as such
//! a role: the rights are enough for the whole API.)

use alerting_test_support::{
    alerting_command,
    database::{self, TestDatabase, postgres_admin_url},
    process::run,
};
use sea_orm::{ConnectionTrait, DatabaseConnection};

/// `alerting migrate` on `owner_url`, with DATABASE_APP_URL.
async fn migrate(owner_url: &str, app_url: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = alerting_command!(dir.path());
    command
        .env("DATABASE_URL", owner_url)
        .env("DATABASE_APP_URL", app_url)
        .arg("migrate");
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

/// Whether migrate has changed the database: it made the migration history.
async fn migrated(owner_url: &str) -> bool {
    let owner = alerting::db::connect_url(owner_url, 1)
        .await
        .expect("owner");
    let row = owner
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT to_regclass('seaql_migrations') IS NOT NULL AS made",
        ))
        .await
        .expect("query")
        .expect("a row");
    row.try_get::<bool>("", "made").expect("made")
}

#[tokio::test]
async fn migrate_makes_a_role_that_reads_and_writes_rows_and_nothing_more() {
    let (mut database, owner_url) = TestDatabase::create_owned().await;
    let role = format!(
        "alerting_role_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    database.drop_role_too(&role);
    let app_url = as_user(&owner_url, &role, "first-Password-1");

    let (code, output) = migrate(&owner_url, &app_url).await;
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
    let (code, output) = migrate(&owner_url, &rotated).await;
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("is up to date"), "{output}");
    alerting::db::connect_url(&rotated, 1)
        .await
        .expect("the new password logs in");
    assert!(
        alerting::db::connect_url(&app_url, 1).await.is_err(),
        "the old password still logs in"
    );
}

#[tokio::test]
async fn migrate_refuses_an_application_url_it_cannot_use_before_changing_anything() {
    let (_database, owner_url) = TestDatabase::create_owned().await;
    let owner = url::Url::parse(&owner_url)
        .expect("URL")
        .username()
        .to_owned();
    let mut elsewhere =
        url::Url::parse(&as_user(&owner_url, "alerting_app", "whatever")).expect("URL");
    elsewhere.set_path("another_database");
    let cases = [
        (
            as_user(&owner_url, &owner, "whatever"),
            "the user DATABASE_URL connects as",
        ),
        (
            as_user(&owner_url, "postgres", "whatever"),
            "has rights beyond reading and writing rows",
        ),
        (
            as_user(&owner_url, "Mixed_Case", "whatever"),
            "is not a plain role name",
        ),
        (
            owner_url.replace(&format!("{owner}@"), "alerting_app@"),
            "must name a Postgres user and its password",
        ),
        (elsewhere.to_string(), "a database the services do not use"),
    ];
    for (app_url, expected) in cases {
        let (code, output) = migrate(&owner_url, &app_url).await;
        assert_eq!(code, Some(1), "{app_url}: {output}");
        assert!(output.contains("DATABASE_APP_URL"), "{output}");
        assert!(output.contains(expected), "{expected}: {output}");
        assert!(
            !output.contains("whatever"),
            "the password was printed: {output}"
        );
        assert!(
            !migrated(&owner_url).await,
            "{expected}: migrate changed the database"
        );
    }
}
