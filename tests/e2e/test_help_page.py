"""The Help link opens the user guide of the page's role in the page's language, and the guide
passes axe like every other page."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import tr


@pytest.mark.parametrize("lang", ["nl", "fr", "de"])
def test_help_link_opens_the_guide_in_the_pages_language(walk_factory: Any, lang: str) -> None:
    walk = walk_factory(f"help-{lang}", lang)
    walk.login(lang, "gebruiker", second_factor=False)
    walk.goto(f"/{lang}/", "home")
    walk.page.get_by_role("link", name=tr(lang, "Help"), exact=True).click()
    walk.page.wait_for_url(re.compile(rf"/{lang}/help/\?role=user"))
    walk.check("guide-user")
    assert walk.page.locator("main img").count() >= 1
    walk.goto(f"/{lang}/help/?role=subdepartment-manager", "guide-subdepartment-manager")
    images = walk.page.locator("main img")
    assert images.count() >= 3
    # Every screenshot of the guide is really served and shown.
    for i in range(images.count()):
        image = images.nth(i)
        image.scroll_into_view_if_needed()  # the guide's images load lazily
        walk.page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle())
