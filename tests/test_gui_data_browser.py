"""The data browser, offscreen: counts per split, a class's examples as the model sees them, the overview."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def window(make_window):
    return make_window()


def counts(browser) -> list[list[str]]:
    return [[browser.counts.item(r, c).text() for c in range(4)] for r in range(browser.counts.rowCount())]


def test_the_browse_button_opens_the_counts_of_the_current_pool(qtbot, window, small_glyph_pool):
    window.data_panel.browse_data_button.click()
    browser = window.data_browser
    assert browser.isVisible()
    # the small pool: 40 / 10 / 10 classes of 20 examples each
    assert counts(browser) == [
        ["Meta-train", "40", "800", "20"],
        ["Validation", "10", "200", "20"],
        ["Test", "10", "200", "20"],
    ]
    assert "60 classes, 1,200 examples" in browser.title.text() and "Built-in glyphs" in browser.title.text()
    assert [browser.split_combo.itemData(i) for i in range(browser.split_combo.count())] == ["train", "val", "test"]
    # the list: an overview entry, then every class of the split with its example count
    assert browser.class_list.count() == 1 + 40
    first = small_glyph_pool.splits["train"][0]
    text = browser.class_list.item(1).text()
    assert (
        text.startswith(small_glyph_pool.class_names[first])
        and small_glyph_pool.class_groups[first] in text
        and text.endswith("(20)")
    )


def test_a_chosen_class_shows_all_its_examples_pixel_for_pixel_enlarged(qtbot, window, small_glyph_pool):
    from gui.data_browser import GAP, PREVIEW_SCALE, TILE_SCALE

    data_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Data")
    data_menu.actions()[0].trigger()  # Data > Browse data… (Ctrl+D)
    browser = window.data_browser
    cls = small_glyph_pool.splits["test"][3]
    browser.select_class(cls)
    assert browser.split_combo.currentData() == "test"
    assert browser.class_list.currentItem().text().startswith(small_glyph_pool.class_names[cls])
    assert f"All 20 examples of class “{small_glyph_pool.class_names[cls]}”" in browser.grid_caption.text()
    examples = small_glyph_pool.images[small_glyph_pool.members(cls)].numpy()
    shown, columns = browser.grid.image, browser.grid._grid[0]
    t = 28 * TILE_SCALE
    for i in (0, 7, 19):  # each tile is the example, each pixel a TILE_SCALE x TILE_SCALE block
        r, c = divmod(i, columns)
        tile = shown[GAP + r * (t + GAP) : GAP + r * (t + GAP) + t, GAP + c * (t + GAP) : GAP + c * (t + GAP) + t]
        assert np.array_equal(tile[::TILE_SCALE, ::TILE_SCALE], examples[i])
        assert np.array_equal(tile[TILE_SCALE - 1 :: TILE_SCALE, 1::TILE_SCALE], examples[i])
    assert browser.preview.pixmap().width() == 28 * PREVIEW_SCALE
    assert "28×28 pixels" in browser.preview_caption.text()

    # clicking the 8th tile enlarges that example
    from PySide6.QtCore import QPoint, Qt
    from pytestqt.qtbot import QtBot

    r, c = divmod(7, columns)
    QtBot.mouseClick(
        browser.grid, Qt.MouseButton.LeftButton, pos=QPoint(GAP + c * (t + GAP) + 10, GAP + r * (t + GAP) + 10)
    )
    assert f"image #{int(small_glyph_pool.members(cls)[7])}" in browser.preview_caption.text()


def test_the_overview_shows_the_first_example_of_each_class_and_a_click_opens_that_class(
    qtbot, window, small_glyph_pool
):
    from PySide6.QtCore import QPoint, Qt
    from pytestqt.qtbot import QtBot

    from gui.data_browser import GAP, TILE_SCALE, open_data_browser

    browser = open_data_browser(window, window.state)
    browser.split_combo.setCurrentIndex(browser.split_combo.findData("val"))
    browser.class_list.setCurrentRow(0)
    val = small_glyph_pool.splits["val"]
    assert browser.grid._grid[2] == len(val)
    first = small_glyph_pool.images[small_glyph_pool.members(val[0])[0]].numpy()
    t = 28 * TILE_SCALE
    assert np.array_equal(browser.grid.image[GAP : GAP + t : TILE_SCALE, GAP : GAP + t : TILE_SCALE], first)
    QtBot.mouseClick(browser.grid, Qt.MouseButton.LeftButton, pos=QPoint(GAP + t + GAP + 5, GAP + 5))  # the 2nd tile
    assert browser.class_list.currentItem().data(Qt.ItemDataRole.UserRole) == val[1]


def test_without_data_the_browser_says_so(qtbot):
    from gui.data_browser import DataBrowser

    browser = DataBrowser()
    qtbot.addWidget(browser)
    browser.set_pool(None)
    assert (
        "No data is loaded yet" in browser.title.text()
        and browser.counts.rowCount() == 0
        and browser.class_list.count() == 0
    )
