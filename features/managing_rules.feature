# Run by the acceptance suite (cucumber) once it lands; until then the same
# behaviour is checked by tests/api in both backends.
Feature: Managing clients, rules and endpoints
  As an operator of a tenant
  I want to describe which alerts matter to me and where they should go
  So that the platform notifies the right people and nobody else

  Background:
    Given the platform is running

  Scenario: A client describes what it wants to hear about
    When I create the client "acme"
    And I give "acme" a rule for HIGH alerts from "payments" with any name
    Then the rule is enabled at version 1
    And its severity reads "HIGH" whatever case I wrote it in

  Scenario: Notifications go to a webhook, a Slack channel and an address
    Given the client "acme" has a rule for HIGH alerts from "payments"
    When I add a webhook "https://hooks.example.com/alerts" with a secret
    And I add a Slack channel "https://hooks.slack.com/services/T0/B0/X"
    And I add the email address "oncall@example.com"
    Then the rule lists three endpoints
    And no answer ever shows the webhook's secret

  Scenario: Two operators edit the same rule
    Given the client "acme" has a rule at version 1
    When Alice disables it at version 1
    And Bob renames it at version 1
    Then Alice's change is kept
    And Bob is told the rule is now at version 2

  Scenario Outline: Mistakes are explained, field by field
    When I create a rule with <field> set to <value>
    Then I am told "<field>" is invalid
    And nothing is created

    Examples:
      | field    | value        |
      | severity | "SEVERE"     |
      | source   | ""           |
      | name     | 256 letters  |

  Scenario: The same rule twice is refused
    Given the client "acme" has a rule for HIGH alerts from "payments"
    When I create the same rule again
    Then I am told it already exists

  Scenario: Deleting a client removes everything it owns
    Given the client "acme" has a rule with an endpoint
    When I delete "acme"
    Then its rules and endpoints are gone
    And the rule's deletion is announced to the matching pipeline
