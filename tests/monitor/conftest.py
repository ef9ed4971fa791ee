from tests.app.conftest import browser, page  # noqa: F401 (headless Chromium)
