"""``hutong demo``: a hub and two provinces on loopback run the scenario of DESIGN.md §9 (``runner``).

Kept empty so that importing ``hutong.demo.cli`` (every ``hutong --help``) does not load the scenario.
"""
