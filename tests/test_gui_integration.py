"""The tabs work together: a model meta-trained on the Meta-train tab reaches the New classes tab."""

from __future__ import annotations

from test_gui_window import TINY


def test_new_classes_tab_receives_the_trained_model_and_the_sample_set(qtbot, make_window):
    window = make_window(**TINY)
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles[:1] == ["Meta-train"] and "New classes" in titles and "Compare" in titles
    workspace = window.workspace
    assert workspace.current_model() is None and workspace.quick_train_button.isVisibleTo(workspace)
    qtbot.waitUntil(
        lambda: workspace.board.count == 5 and not workspace.board.missing(), timeout=20_000
    )  # the sample set
    with qtbot.waitSignal(workspace.modelReady, timeout=60_000):
        with qtbot.waitSignal(window.controller.runFinished, timeout=60_000):
            window.start_run()
    model = workspace.current_model()
    assert model is not None and model.name == window.algorithm_panel.values()["algo"]
    assert not workspace.quick_train_button.isVisibleTo(workspace)


def test_quick_train_request_starts_the_quick_recipe_on_the_glyphs(qtbot, make_window, glyph_pool):
    from engine.config import QUICK_RECIPE

    window = make_window(pool=glyph_pool, **TINY)  # the built-in set: enough classes for 20-way tasks
    window.workspace.quickTrainRequested.emit()
    assert window.tabs.currentIndex() == 0
    values = window.algorithm_panel.values()
    assert values["algo"] == QUICK_RECIPE["algo"] == "protohead" and values["time_budget"] == 60.0
    # the one-minute recipe (engine.config.QUICK_RECIPE): batches of 32 classes x 2 images, 10 adaptation steps
    assert {k: values[k] for k in QUICK_RECIPE if k != "algo"} == {k: v for k, v in QUICK_RECIPE.items() if k != "algo"}
    assert window.data_panel.source() == "synthetic"
    qtbot.waitUntil(lambda: window.controller.is_active, timeout=20_000)
    with qtbot.waitSignal(window.controller.runFinished, timeout=10_000):
        window.stop_action.trigger()


def test_view_shortcuts_switch_tabs(qtbot, make_window):
    window = make_window()
    for n, title in enumerate(("Meta-train", "New classes", "Compare"), 1):
        action = window.tab_actions[n - 1]
        assert action.shortcut().toString() == f"Ctrl+{n}"
        action.trigger()
        assert window.tabs.tabText(window.tabs.currentIndex()) == title
