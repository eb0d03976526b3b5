@acknowledge
Feature: A person acknowledges a notification, and it stops repeating
  Whoever takes a notification acknowledges it: the record says who and when, the first
  acknowledgement stands, and the open notifications are those nobody has taken. A rule
  with a repeat interval delivers its open notifications again once per interval, as
  Alertmanager does, until someone acknowledges them.

  Background:
    Given the platform is running

  Scenario: One acknowledged by the admin, the other still open
    Given the client "acme" with a rule "all" for severity "*", source "*" and name "*"
    And the rule "all" sends to the webhook "hook"
    And the rules are in effect
    When the alert "a1" arrives with severity "HIGH", source "db" and name "down"
    And the alert "a2" arrives with severity "HIGH", source "db" and name "slow"
    Then the webhook "hook" receives the alerts "a1, a2"
    When the admin acknowledges the notification of "a1" for "acme"
    Then the notification of "a1" for "acme" is acknowledged by "admin"
    And "acme" has 1 open notification

  Scenario: An open notification repeats until someone acknowledges it
    Given the client "acme" with a rule "all" for severity "*", source "*" and name "*"
    And the rule "all" repeats every "1s"
    And the rule "all" sends to the webhook "hook"
    And the rules are in effect
    When the alert "a1" arrives with severity "HIGH", source "db" and name "down"
    Then the webhook "hook" receives 2 repeats of "a1"
    When the admin acknowledges the notification of "a1" for "acme"
    And the alert "a2" arrives with severity "HIGH", source "db" and name "slow"
    Then the webhook "hook" receives 2 repeats of "a2"
    And the webhook "hook" got no repeat of "a1" for "acme" after its acknowledgement
