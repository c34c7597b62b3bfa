"""The console tests' administrator password; its fixtures (`admin_account`, `console`) are
in tests/conftest.py, so that other tests can drive the console too."""

PASSWORD = "correct horse battery staple"
