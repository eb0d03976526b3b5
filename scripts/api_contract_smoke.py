"""Drives a running platform through Python clients that openapi-python-client made
from its served OpenAPI documents (scripts/api-contract generates them and runs this):
what a team integrating over the API does first, each step through a generated call,
each answer parsed into the generated models. Exits non-zero at the first surprise.

Arguments: rule-service URL, alert-producer URL, admin token, a webhook URL that
answers 2xx (the platform's own `alerting sink`).
"""

import sys
import time
import uuid

from alert_producer_client import AuthenticatedClient as ProducerClient
from alert_producer_client.api.alerts import ingest
from alert_producer_client.models import Accepted, AlertInput
from rule_service_client import AuthenticatedClient
from rule_service_client.api.clients import create_client, get_client
from rule_service_client.api.endpoints import create_endpoint
from rule_service_client.api.keys import create_key
from rule_service_client.api.notifications import (
    acknowledge_notification,
    get_notification,
    list_notifications,
    resolve_notification,
)
from rule_service_client.api.rules import create_rule
from rule_service_client.models import (
    Client,
    CreateApiKey,
    CreateClient,
    CreatedApiKey,
    CreateEndpoint,
    CreateRule,
    Endpoint,
    Notification,
    NotificationDetail,
    Rule,
)

PATIENCE_S = 60


def expect(response, status, model):
    """The parsed answer, when it has `status` and parses as `model`."""
    if response.status_code != status or not isinstance(response.parsed, model):
        sys.exit(
            f"expected {status} {model.__name__}, got {response.status_code}: "
            f"{response.content.decode(errors='replace')}"
        )
    return response.parsed


def main(rule_service, alert_producer, token, webhook):
    admin = AuthenticatedClient(base_url=rule_service, token=token, raise_on_unexpected_status=True)
    tenant = f"smoke-{uuid.uuid4().hex[:8]}"

    client = expect(create_client.sync_detailed(client=admin, body=CreateClient(client_id=tenant)), 201, Client)
    assert client.client_id == tenant, client
    fetched = expect(get_client.sync_detailed(tenant, client=admin), 200, Client)
    assert fetched.label_mapping.name == ["alertname"], fetched

    rule = expect(
        create_rule.sync_detailed(
            client=admin,
            body=CreateRule(client_id=tenant, severity="HIGH", source="checkout", name="*"),
        ),
        201,
        Rule,
    )
    endpoint = expect(
        create_endpoint.sync_detailed(rule.rule_id, client=admin, body=CreateEndpoint(type_="webhook", value=webhook)),
        201,
        Endpoint,
    )
    assert endpoint.enabled, endpoint
    key = expect(
        create_key.sync_detailed(tenant, client=admin, body=CreateApiKey(scopes=["ingest"])),
        201,
        CreatedApiKey,
    )

    producer = ProducerClient(base_url=alert_producer, token=key.key, raise_on_unexpected_status=True)
    alert_id = f"smoke-{uuid.uuid4()}"
    # A new rule reaches the matcher within a snapshot interval: post until matched.
    deadline = time.monotonic() + PATIENCE_S
    notification = None
    while notification is None:
        if time.monotonic() > deadline:
            sys.exit(f"no notification for {alert_id} within {PATIENCE_S} s")
        alert = AlertInput(severity="HIGH", source="checkout", name="payment-failed", alert_id=alert_id)
        accepted = expect(ingest.sync_detailed(client=producer, body=[alert]), 202, Accepted)
        assert accepted.alert_ids == [alert_id] and not accepted.shared, accepted
        for _ in range(10):
            page = list_notifications.sync_detailed(client=admin, client_id=tenant, alert_id=alert_id)
            items = page.parsed.items if page.status_code == 200 else []
            if items:
                notification = items[0]
                break
            time.sleep(0.2)
        if notification is None:
            alert_id = f"smoke-{uuid.uuid4()}"

    notification_id = notification.notification_id
    while True:
        detail = expect(get_notification.sync_detailed(notification_id, client=admin), 200, NotificationDetail)
        if detail.deliveries and all(d.status == "DELIVERED" for d in detail.deliveries):
            break
        if time.monotonic() > deadline:
            sys.exit(f"the delivery did not settle: {detail.to_dict()}")
        time.sleep(0.2)
    assert detail.alert.name == "payment-failed", detail

    acknowledged = expect(acknowledge_notification.sync_detailed(notification_id, client=admin), 200, Notification)
    assert acknowledged.acknowledged_by, acknowledged
    resolved = expect(resolve_notification.sync_detailed(notification_id, client=admin), 200, Notification)
    assert resolved.state == "resolved", resolved
    print(f"generated clients: client, rule, endpoint, key, alert, notification {notification_id} delivered, acknowledged, resolved")


if __name__ == "__main__":
    main(*sys.argv[1:5])
