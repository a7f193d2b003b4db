"""Trendyol Marketplace seller API: order look-ups (``adapter``) and a simulator for tests."""
