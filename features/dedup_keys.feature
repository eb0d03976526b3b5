@dedup_keys
Feature: Alerts with a dedup key fold into one open notification
  A source says "this is the same problem again" with a dedup key. While a client's
  notification with that key is open, further alerts with it count as occurrences of
  it: no new notification, no new delivery. Another key, or no key, is another
  notification.

  Background:
    Given the platform is running

  Scenario: Three alerts with one key
    Given the client "acme" with a rule "all" for severity "*", source "*" and name "*"
    And the rule "all" sends to the webhook "hook"
    And the rules are in effect
    When the alert "d1" with dedup key "disk:db1" arrives with severity "HIGH", source "db" and name "disk full"
    And the alert "d2" with dedup key "disk:db1" arrives with severity "HIGH", source "db" and name "disk full"
    And the alert "d3" with dedup key "disk:db1" arrives with severity "HIGH", source "db" and name "disk full"
    Then the webhook "hook" receives the alerts "d1"
    And "acme" has 1 notification
    And the notification of "d1" for "acme" counts 3 occurrences

  Scenario: Another key, and no key, are notifications of their own
    Given the client "acme" with a rule "all" for severity "*", source "*" and name "*"
    And the rule "all" sends to the webhook "hook"
    And the rules are in effect
    When the alert "d1" with dedup key "disk:db1" arrives with severity "HIGH", source "db" and name "disk full"
    And the alert "e1" with dedup key "disk:db2" arrives with severity "HIGH", source "db" and name "disk full"
    And the alert "p1" arrives with severity "HIGH", source "db" and name "disk full"
    And the alert "d2" with dedup key "disk:db1" arrives with severity "HIGH", source "db" and name "disk full"
    Then the webhook "hook" receives the alerts "d1, e1, p1"
    And "acme" has 3 notifications
    And the notification of "d1" for "acme" counts 2 occurrences
    And the notification of "e1" for "acme" counts 1 occurrence
