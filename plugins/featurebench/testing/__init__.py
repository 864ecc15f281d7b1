"""Test doubles and simulations shared by tests/ and bench/: never imported by the library itself."""
