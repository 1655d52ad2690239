from tests.console.desk import as_user, browser, desk  # noqa: F401  (the fixtures)
