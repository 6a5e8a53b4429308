import io

from npnet import callbacks


def drive(cb, epochs=2, steps=3, verbose=1):
    """Call the hooks the way fit does, with fixed logs."""
    cb.set_params({"epochs": epochs, "steps": steps, "verbose": verbose})
    cb.on_train_begin()
    for epoch in range(epochs):
        cb.on_epoch_begin(epoch)
        for batch in range(steps):
            cb.on_batch_begin(batch, {"batch": batch, "size": 2})
            cb.on_batch_end(batch, {"batch": batch, "size": 2, "loss": 0.5 + batch})
        cb.on_epoch_end(epoch, {"loss": 0.25 * (epoch + 1), "learning_rate": 1e-5})
    cb.on_train_end()


def test_history_records_one_value_per_epoch():
    history = callbacks.History()
    drive(history, epochs=3)
    assert history.history == {"loss": [0.25, 0.5, 0.75], "learning_rate": [1e-5] * 3}
    assert history.epoch == [0, 1, 2]


def test_progbar_line_mode_formats_like_keras():
    stream = io.StringIO()
    drive(callbacks.ProgbarLogger(stream=stream))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("Epoch 2/2 - 3/3 [==============================] - 0s ")
    assert lines[1].endswith(" - loss: 0.5000 - learning_rate: 1.0000e-05")


def test_progbar_verbose_2_is_one_line_even_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    drive(callbacks.ProgbarLogger(stream=stream), verbose=2)
    assert "\r" not in stream.getvalue() and len(stream.getvalue().splitlines()) == 2
    forced = io.StringIO()
    bar = callbacks.ProgbarLogger(stream=forced, in_place=True)
    bar._min_interval = 0.0
    drive(bar, epochs=1)
    # Running average of batch losses 0.5, 1.5 after two batches of equal size: 1.0.
    assert "\r2/3 [====================>.........]" in forced.getvalue()
    assert "loss: 1.0000" in forced.getvalue()


def test_callback_list_dispatches_in_order():
    seen = []

    class Tag(callbacks.Callback):
        def __init__(self, tag):
            super().__init__()
            self.tag = tag

        def on_epoch_end(self, epoch, logs=None):
            seen.append((self.tag, epoch))

    drive(callbacks.CallbackList([Tag("a"), Tag("b")]), epochs=1)
    assert seen == [("a", 0), ("b", 0)]
