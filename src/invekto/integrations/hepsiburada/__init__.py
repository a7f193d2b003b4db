"""Hepsiburada Marketplace (OMS) API: order look-ups (``adapter``) and a simulator for tests."""
