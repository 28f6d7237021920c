"""Test-only code shared by integration, fault and benchmark suites."""
