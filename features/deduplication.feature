@deduplication
Feature: One notification per client and alert
  However often an alert arrives and however many of a client's rules match it, the
  client gets one notification, delivered once to each address.

  Background:
    Given the platform is running

  Scenario: The same alert sent twice
    Given the client "acme" with a rule "all" for severity "*", source "*" and name "*"
    And the rule "all" sends to the webhook "hook"
    And the rules are in effect
    When the alert "twice" arrives with severity "HIGH", source "db" and name "down"
    And the alert "twice" arrives with severity "HIGH", source "db" and name "down"
    Then the webhook "hook" receives the alerts "twice"
    And "acme" has 1 notification

  Scenario: Two rules of one client, one address
    Given the client "acme" with a rule "by-source" for severity "*", source "db" and name "*"
    And the rule "by-source" sends to the webhook "shared"
    And "acme" has a rule "by-name" for severity "*", source "*" and name "down"
    And the rule "by-name" sends to the webhook "shared"
    And the rules are in effect
    When the alert "a1" arrives with severity "HIGH", source "db" and name "down"
    Then the webhook "shared" receives the alerts "a1"
    And "acme" has 1 notification
