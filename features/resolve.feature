@resolve
Feature: A resolved alert closes its notification, and the endpoints are told
  A source says "it is over" with a resolved alert carrying the dedup key of what
  fired. The client's open notification with that key is resolved, and every endpoint
  that took it gets the resolution. The key is then free: its next alert is a new
  notification. A person can resolve a notification too, and a rule can resolve the
  notifications that have had no alert for a while.

  Background:
    Given the platform is running

  Scenario: An alert fires, is resolved, and fires again
    Given the client "acme" with a rule "all" for severity "*", source "*" and name "*"
    And the rule "all" sends to the webhook "hook"
    And the rules are in effect
    When the alert "d1" with dedup key "disk:db1" arrives with severity "HIGH", source "db" and name "disk full"
    Then the webhook "hook" receives the alerts "d1"
    When the alert "r1" resolving dedup key "disk:db1" arrives with severity "HIGH", source "db" and name "disk full"
    Then the webhook "hook" receives the resolution of "d1"
    And the notification of "d1" for "acme" is resolved by the alert "r1"
    When the alert "d2" with dedup key "disk:db1" arrives with severity "HIGH", source "db" and name "disk full"
    Then the webhook "hook" receives the alerts "d1, d1, d2"
    And "acme" has 1 open notification

  Scenario: A person resolves a notification
    Given the client "acme" with a rule "all" for severity "*", source "*" and name "*"
    And the rule "all" sends to the webhook "hook"
    And the rules are in effect
    When the alert "a1" arrives with severity "LOW", source "web" and name "slow"
    Then the webhook "hook" receives the alerts "a1"
    When the admin resolves the notification of "a1" for "acme"
    Then the webhook "hook" receives the resolution of "a1"
    And the notification of "a1" for "acme" is resolved by "admin"

  Scenario: A notification with no new alert resolves itself
    Given the client "acme" with a rule "all" for severity "*", source "*" and name "*"
    And the rule "all" resolves itself after "2s" without an alert
    And the rule "all" sends to the webhook "hook"
    And the rules are in effect
    When the alert "d1" with dedup key "disk:db1" arrives with severity "HIGH", source "db" and name "disk full"
    Then the webhook "hook" receives the resolution of "d1"
    And the notification of "d1" for "acme" is resolved by "auto-resolve: no occurrence for 2s"
