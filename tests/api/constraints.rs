//! The database itself refuses what the API refuses: these tests write straight
//! through the entities, bypassing every check in the handlers.

use alerting_entities::{clients, deliveries, endpoints, rules};
use chrono::{SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, DbErr, EntityTrait, IntoActiveModel, PaginatorTrait, SqlErr};
use uuid::Uuid;

use crate::{helpers::TestApp, notifications::insert_notification};

fn rule(client_id: &str, severity: &str) -> rules::Model {
    let at = Utc::now().trunc_subsecs(6);
    rules::Model {
        id: Uuid::new_v4(),
        client_id: client_id.to_owned(),
        severity: severity.to_owned(),
        source: "payments".to_owned(),
        name: "*".to_owned(),
        enabled: true,
        version: 1,
        created_at: at,
        updated_at: at,
        repeat_interval_seconds: None,
        auto_resolve_after_seconds: None,
    }
}

fn endpoint(rule_id: Uuid, value: &str) -> endpoints::Model {
    let at = Utc::now().trunc_subsecs(6);
    endpoints::Model {
        id: Uuid::new_v4(),
        rule_id,
        kind: "email".to_owned(),
        value: value.to_owned(),
        secret: None,
        enabled: true,
        created_at: at,
        updated_at: at,
    }
}

fn delivery(notification_id: Uuid, endpoint_id: Uuid) -> deliveries::Model {
    let at = Utc::now().trunc_subsecs(6);
    deliveries::Model {
        id: Uuid::new_v4(),
        notification_id,
        endpoint_id,
        kind: "email".to_owned(),
        target: "ops@example.com".to_owned(),
        status: "PENDING".to_owned(),
        attempts: 0,
        last_error: None,
        last_http_status: None,
        delivered_at: None,
        created_at: at,
        updated_at: at,
        phase: "firing".to_owned(),
    }
}

fn assert_unique_violation(result: Result<impl std::fmt::Debug, DbErr>) {
    match result {
        Err(err) => assert!(
            matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
            "expected a unique violation, got {err:?}"
        ),
        Ok(value) => panic!("the database accepted a duplicate: {value:?}"),
    }
}

fn assert_foreign_key_violation(result: Result<impl std::fmt::Debug, DbErr>) {
    match result {
        Err(err) => assert!(
            matches!(
                err.sql_err(),
                Some(SqlErr::ForeignKeyConstraintViolation(_))
            ),
            "expected a foreign key violation, got {err:?}"
        ),
        Ok(value) => panic!("the database accepted a dangling reference: {value:?}"),
    }
}

async fn the_database_refuses_duplicates(app: TestApp) {
    app.client("acme").await;
    let first = rule("acme", "HIGH");
    rules::Entity::insert(first.clone().into_active_model().reset_all())
        .exec_without_returning(&app.db)
        .await
        .expect("first rule");
    assert_unique_violation(
        rules::Entity::insert(rule("acme", "HIGH").into_active_model().reset_all())
            .exec_without_returning(&app.db)
            .await,
    );

    let email = endpoint(first.id, "ops@example.com");
    endpoints::Entity::insert(email.clone().into_active_model().reset_all())
        .exec_without_returning(&app.db)
        .await
        .expect("first endpoint");
    assert_unique_violation(
        endpoints::Entity::insert(
            endpoint(first.id, "ops@example.com")
                .into_active_model()
                .reset_all(),
        )
        .exec_without_returning(&app.db)
        .await,
    );

    let notification = insert_notification(&app, "acme", "alert-1", "PENDING").await;
    let mut again = notification.clone();
    again.id = Uuid::new_v4();
    assert_unique_violation(
        alerting_entities::notifications::Entity::insert(again.into_active_model().reset_all())
            .exec_without_returning(&app.db)
            .await,
    );

    deliveries::Entity::insert(
        delivery(notification.id, email.id)
            .into_active_model()
            .reset_all(),
    )
    .exec_without_returning(&app.db)
    .await
    .expect("first delivery");
    assert_unique_violation(
        deliveries::Entity::insert(
            delivery(notification.id, email.id)
                .into_active_model()
                .reset_all(),
        )
        .exec_without_returning(&app.db)
        .await,
    );

    let now = Utc::now();
    assert_unique_violation(
        clients::Entity::insert(
            clients::Model {
                label_mapping: None,
                id: "acme".to_owned(),
                name: None,
                created_at: now,
                updated_at: now,
            }
            .into_active_model()
            .reset_all(),
        )
        .exec_without_returning(&app.db)
        .await,
    );
}

async fn the_database_refuses_dangling_references(app: TestApp) {
    assert_foreign_key_violation(
        rules::Entity::insert(rule("ghost", "HIGH").into_active_model().reset_all())
            .exec_without_returning(&app.db)
            .await,
    );
    assert_foreign_key_violation(
        endpoints::Entity::insert(
            endpoint(Uuid::new_v4(), "a@example.com")
                .into_active_model()
                .reset_all(),
        )
        .exec_without_returning(&app.db)
        .await,
    );
    assert_foreign_key_violation(
        deliveries::Entity::insert(
            delivery(Uuid::new_v4(), Uuid::new_v4())
                .into_active_model()
                .reset_all(),
        )
        .exec_without_returning(&app.db)
        .await,
    );
}

async fn deletes_cascade_down_the_tree(app: TestApp) {
    app.client("acme").await;
    let first = rule("acme", "HIGH");
    rules::Entity::insert(first.clone().into_active_model().reset_all())
        .exec_without_returning(&app.db)
        .await
        .expect("rule");
    let email = endpoint(first.id, "ops@example.com");
    endpoints::Entity::insert(email.clone().into_active_model().reset_all())
        .exec_without_returning(&app.db)
        .await
        .expect("endpoint");
    let notification = insert_notification(&app, "acme", "alert-1", "PENDING").await;
    deliveries::Entity::insert(
        delivery(notification.id, email.id)
            .into_active_model()
            .reset_all(),
    )
    .exec_without_returning(&app.db)
    .await
    .expect("delivery");

    // Deleting the endpoint takes its delivery records with it.
    endpoints::Entity::delete_by_id(email.id)
        .exec(&app.db)
        .await
        .expect("delete endpoint");
    assert_eq!(
        deliveries::Entity::find()
            .count(&app.db)
            .await
            .expect("count"),
        0
    );

    // Deleting a notification takes its delivery records with it; deleting a rule, its
    // endpoints.
    let webhook = endpoint(first.id, "https://hooks.example.com/ops");
    endpoints::Entity::insert(webhook.clone().into_active_model().reset_all())
        .exec_without_returning(&app.db)
        .await
        .expect("endpoint");
    let second = insert_notification(&app, "acme", "alert-2", "PENDING").await;
    deliveries::Entity::insert(
        delivery(second.id, webhook.id)
            .into_active_model()
            .reset_all(),
    )
    .exec_without_returning(&app.db)
    .await
    .expect("delivery");
    alerting_entities::notifications::Entity::delete_by_id(second.id)
        .exec(&app.db)
        .await
        .expect("delete notification");
    assert_eq!(
        deliveries::Entity::find()
            .count(&app.db)
            .await
            .expect("count"),
        0
    );
    rules::Entity::delete_by_id(first.id)
        .exec(&app.db)
        .await
        .expect("delete rule");
    assert_eq!(
        endpoints::Entity::find()
            .count(&app.db)
            .await
            .expect("count"),
        0
    );

    // Deleting the client takes its rules and notifications with it.
    rules::Entity::insert(rule("acme", "LOW").into_active_model().reset_all())
        .exec_without_returning(&app.db)
        .await
        .expect("rule");
    clients::Entity::delete_by_id("acme".to_owned())
        .exec(&app.db)
        .await
        .expect("delete client");
    assert_eq!(
        rules::Entity::find().count(&app.db).await.expect("count"),
        0
    );
    assert_eq!(
        alerting_entities::notifications::Entity::find()
            .count(&app.db)
            .await
            .expect("count"),
        0
    );
}

crate::on_both_backends!(
    the_database_refuses_duplicates,
    the_database_refuses_dangling_references,
    deletes_cascade_down_the_tree,
);
