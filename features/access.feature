@access
Feature: Who may see and change what
  Every call carries a token: the operator's admin token, or an API key the operator
  made for one tenant. A tenant's key reaches that tenant's data only, and another
  tenant's data looks exactly like data that does not exist.

  Background:
    Given the platform is running

  Scenario: A call without a token is refused
    When I list the rules without a token
    Then the request is refused with 401

  Scenario: A tenant's key sees its own rules and nobody else's
    Given the client "acme" with a rule "mine" for severity "HIGH", source "db" and name "*"
    And the client "globex" with a rule "theirs" for severity "LOW", source "web" and name "*"
    And "acme" has an API key "dashboard" to manage its rules
    When "dashboard" lists the rules
    Then it sees the rule "mine" only
    When "dashboard" reads the rule "theirs"
    Then the request is refused with 404
    When "dashboard" creates the client "intruder"
    Then the request is refused with 403

  Scenario: A revoked key stops working at once
    Given the client "acme"
    And "acme" has an API key "old" to manage its rules
    When "old" lists the rules
    Then the request succeeds with 200
    When I revoke the API key "old"
    And "old" lists the rules
    Then the request is refused with 401

  Scenario: A producer's key posts alerts and reads nothing
    Given the client "acme" with a rule "all" for severity "*", source "*" and name "*"
    And the rule "all" sends to the webhook "hook"
    And the rules are in effect
    And "acme" has an API key "producer" to post alerts
    When "producer" posts the alert "by-key"
    Then the request succeeds with 202
    And the webhook "hook" receives the alerts "by-key"
    When "producer" lists the rules
    Then the request is refused with 403

  Scenario: A tenant's alerts reach its own rules only
    Given the client "acme" with a rule "mine" for severity "LOW", source "keys" and name "check"
    And the rule "mine" sends to the webhook "acme-hook"
    And the client "mallory" with a rule "snooping" for severity "LOW", source "keys" and name "check"
    And the rule "snooping" sends to the webhook "mallory-hook"
    And the rules are in effect
    And "acme" has an API key "acme-producer" to post alerts
    When "acme-producer" posts the alert "private"
    Then the request succeeds with 202
    And the webhook "acme-hook" receives the alerts "private"
    And the webhook "mallory-hook" receives nothing
