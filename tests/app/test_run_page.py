"""Run page: an edited run gets its own id and the badge; a lever that moves nothing says which constraint binds."""

YIELD = "scn_lever:yield:smic:ascend910b"
MFU = "scn_lever:mfu:lab-cn:job1:ascend910b"


def _open_run(at):
    at.run()
    at.switch_page("app_pages/scenario.py").run()
    return at


def test_unedited_run_keeps_the_file_id_and_says_what_binds(tiny_app):
    at = _open_run(tiny_app)
    at.switch_page("app_pages/run.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "run `tiny:7`" in at.status[0].label
    assert not at.warning
    limits = " ".join(m.value for m in at.markdown)
    assert "Huawei output (huawei-pkg) is limited by packaging capacity (in 12 of 12 months" in limits
    helps = {m.label: m.help for m in at.metric}
    assert "capex over the chip's service life" in helps["Job cost (full cost)"]
    blocked = helps["Chips blocked (denied + refused)"]
    assert "denied" in blocked and "futile" in blocked
    assert next(m.value for m in at.metric if m.label == "Job cost (full cost)").startswith("$")


def test_a_lever_that_moves_nothing_is_explained(tiny_app):
    at = _open_run(tiny_app)
    at.slider(key=YIELD).set_value(0.9).run()
    at.switch_page("app_pages/run.py").run()
    assert not at.exception, [e.value for e in at.exception]
    label = at.status[0].label
    assert "run `tiny@" in label and label.endswith(":7`")
    (warning,) = [w.value for w in at.warning]
    assert warning.startswith("**Smic die yield, ascend910b** moves nothing here (the finish date is unchanged): "
                              "lab-cn/job1 starts on 2023-02-09")
    assert "limited by packaging capacity (in 12 of 12 months with assembly), not dies." in warning


def test_a_lever_that_moves_the_finish_is_not_flagged(tiny_app):
    at = _open_run(tiny_app)
    at.slider(key=MFU).set_value(0.1).run()
    at.switch_page("app_pages/run.py").run()
    assert not at.exception
    assert not at.warning
    first = at.status[0].label
    at.switch_page("app_pages/scenario.py").run()
    at.slider(key=MFU).set_value(0.2).run()
    at.switch_page("app_pages/run.py").run()
    assert at.status[0].label != first  # another edit, another run id


def test_an_unhandled_error_is_the_one_line_panel(tiny_app, monkeypatch):
    from app import services

    def boom(*args, **kwargs):
        raise RuntimeError("the engine broke\nacross two lines")

    at = _open_run(tiny_app)
    monkeypatch.setattr(services, "run", boom)
    at.switch_page("app_pages/run.py").run()
    assert not at.exception, [e.value for e in at.exception]
    (err,) = [e.value for e in at.error]
    assert "This page stopped on an error" in err and "`RuntimeError: the engine broke across two lines`" in err
