@rule_changes
Feature: Rule changes take effect while alerts flow
  A rule created while alerts keep arriving matches every alert sent more than
  2 seconds later; a rule disabled stops matching as soon.

  Background:
    Given the platform is running

  Scenario: A new rule catches a running stream
    Given the client "acme"
    And alerts keep arriving from "checkout"
    When I give "acme" a rule "catch" for source "checkout" that sends to the webhook "hook"
    And 2 seconds pass
    Then every alert of the stream sent from then on reaches the webhook "hook"

  Scenario: A disabled rule lets a running stream go
    Given the client "acme" with a rule "catch" for severity "*", source "billing" and name "*"
    And the rule "catch" sends to the webhook "hook"
    And the rules are in effect
    And alerts keep arriving from "billing"
    And the webhook "hook" is receiving the stream
    When I disable the rule "catch" at version 1
    And 2 seconds pass
    Then no alert of the stream sent from then on reaches the webhook "hook"
