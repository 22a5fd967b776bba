"""Benchmarks: measured performance against peers and limits (issue 8). Run ``hutong bench --quick --out DIR``."""
