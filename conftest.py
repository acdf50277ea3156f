"""Root plugin wiring: the fixtures the checks use. Nothing else lives here.

golive's own pytest plugin (golive.plugin) is registered through the package's pytest11 entry point.
"""

pytest_plugins = [
    "fixtures.settings",
    "fixtures.http",
    "fixtures.sentry",
    "fixtures.alerts",
    # fixtures of later checks, one module per line
    "fixtures.tls",
    "fixtures.razorpay",
    "fixtures.stages",
    "fixtures.database",
    "fixtures.release",
]
