"""Shared reconcile library: informers, work queue, ordered resources, leader election, metrics."""
