"""Benchmarks that print numbers (`drillkit bench`).

`tcp` and `http`: what the fault proxies add over direct; `load`: what the load generator holds.
"""
