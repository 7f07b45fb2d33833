pytest_plugins = ["preflight.pytest_plugin", "fixtures.reporting", "fixtures.notification"]
