"""The compliance side: inventory hosts as Testinfra hosts (host keys checked), and the
verdicts the checks in tests/host reach on kubectl and Gatekeeper output."""
