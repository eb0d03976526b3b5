@managing_rules
Feature: Managing clients, rules and endpoints
  An operator describes which alerts matter to a tenant and where its notifications
  go, and is told plainly when something is wrong.

  Background:
    Given the platform is running

  Scenario: A client is created once, and deleted with its rules
    When I try to create the client "acme"
    Then the request succeeds with 201
    When I try to create the client "acme"
    Then the request is refused with 409
    When I try to create the client "not ok!"
    Then the request is refused with 422 naming "client_id"
    Given "acme" has a rule "payments" for severity "HIGH", source "payments" and name "*"
    When I delete the client "acme"
    Then the request succeeds with 204
    And the client "acme" and its rule "payments" are gone

  Scenario: A client defines a rule with wildcards, in any case
    Given the client "acme"
    When I create a rule for "acme" with severity "high", source "payments" and name "*"
    Then the rule reads severity "HIGH", source "payments", name "*", enabled, version 1

  Scenario: Invalid rules are refused, naming the field
    Given the client "acme"
    When I create a rule for "acme" with severity "SEVERE", source "payments" and name "*"
    Then the request is refused with 422 naming "severity"
    When I create a rule for "acme" with severity "HIGH", source "" and name "*"
    Then the request is refused with 422 naming "source"
    When I create a rule for "nobody" with severity "HIGH", source "payments" and name "*"
    Then the request is refused with 404

  Scenario: The same rule twice is refused
    Given the client "acme" with a rule "first" for severity "HIGH", source "payments" and name "*"
    When I create a rule for "acme" with severity "high", source "payments" and name "*"
    Then the request is refused with 409

  Scenario: Two operators edit the same rule
    Given the client "acme" with a rule "payments" for severity "HIGH", source "payments" and name "*"
    When I disable the rule "payments" at version 1
    Then the request succeeds with 200
    When I rename the rule "payments" to "declined" at version 1
    Then I am told the rule is now at version 2

  Scenario: Endpoints take only addresses that fit them, and secrets stay secret
    Given the client "acme" with a rule "payments" for severity "HIGH", source "payments" and name "*"
    When I add the webhook "https://hooks.example.com/alerts" with the secret "s3cret-s3cret-s3cret" to the rule "payments"
    Then the request succeeds with 201
    And no answer shows the secret
    When I add the email address "not-an-address" to the rule "payments"
    Then the request is refused with 422 naming "value"
