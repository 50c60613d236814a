"""The nightly sweep over the `oncall: distributed` queue: select, triage paced, verify, report."""
