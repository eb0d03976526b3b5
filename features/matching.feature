@matching
Feature: Matching alerts to rules
  A rule matches an alert when its severity, source and name each match exactly or
  by "*". Each client with a match is notified once per alert.

  Background:
    Given the platform is running

  Scenario: Exact and wildcard rules across several clients
    Given the client "acme" with a rule "high-payments" for severity "HIGH", source "payments" and name "*"
    And the rule "high-payments" sends to the webhook "acme-hook"
    And "acme" has a rule "declines" for severity "*", source "payments" and name "declined"
    And the rule "declines" sends to the webhook "acme-declines"
    And the client "beta" with a rule "everything" for severity "*", source "*" and name "*"
    And the rule "everything" sends to the webhook "beta-hook"
    And the rules are in effect
    When the alert "a1" arrives with severity "HIGH", source "payments" and name "declined"
    And the alert "a2" arrives with severity "LOW", source "payments" and name "declined"
    And the alert "a3" arrives with severity "HIGH", source "search" and name "slow"
    Then the webhook "acme-hook" receives the alerts "a1"
    And the webhook "acme-declines" receives the alerts "a1, a2"
    And the webhook "beta-hook" receives the alerts "a1, a2, a3"
    And "acme" has 2 notifications

  Scenario: A wildcard stands for its own field only
    Given the client "acme" with a rule "any-source" for severity "HIGH", source "*" and name "down"
    And the rule "any-source" sends to the webhook "hook"
    And the rules are in effect
    When the alert "a1" arrives with severity "HIGH", source "db" and name "down"
    And the alert "a2" arrives with severity "HIGH", source "cache" and name "down"
    And the alert "a3" arrives with severity "HIGH", source "db" and name "slow"
    And the alert "a4" arrives with severity "LOW", source "db" and name "down"
    Then the webhook "hook" receives the alerts "a1, a2"

  Scenario: Disabled rules and disabled endpoints stay silent
    Given the client "acme" with a rule "all" for severity "*", source "*" and name "*"
    And the rule "all" sends to the webhook "on"
    And the rule "all" sends to the disabled webhook "off"
    And "acme" has a disabled rule "dormant" for severity "HIGH", source "*" and name "*"
    And the rule "dormant" sends to the webhook "dormant-hook"
    And the rules are in effect
    When the alert "a1" arrives with severity "HIGH", source "db" and name "down"
    Then the webhook "on" receives the alerts "a1"
    And the webhook "off" receives nothing
    And the webhook "dormant-hook" receives nothing

  Scenario: A deleted rule stops matching
    Given the client "acme" with a rule "doomed" for severity "*", source "billing" and name "*"
    And the rule "doomed" sends to the webhook "hook"
    And the rules are in effect
    When the alert "before" arrives with severity "LOW", source "billing" and name "x"
    Then the webhook "hook" receives the alerts "before"
    When I delete the rule "doomed" at version 1
    And 2 seconds pass
    And the alert "after" arrives with severity "LOW", source "billing" and name "x"
    Then the webhook "hook" receives the alerts "before"
