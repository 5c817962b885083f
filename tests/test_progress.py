"""CLI progress: one redrawn line on a terminal, plain lines anywhere else."""

import io

import pytest

from sqlml import progress

pytestmark = pytest.mark.unit

MESSAGES = ["read 100 training rows", "churn training: 100 rows",
            "epoch 1/3: loss 0.6000, val_auc 0.7000", "epoch 2/3: loss 0.5000, val_auc 0.7500",
            "epoch 3/3: loss 0.4000, val_auc 0.8000", "validation AUC 0.8000"]


def printed(messages, tty: bool) -> str:
    """What a NoticePrinter writes for ``messages``, on a terminal or not."""
    out = io.StringIO()
    printer = progress.NoticePrinter(out, tty=tty)
    for message in messages:
        printer(message)
    printer.close()
    return out.getvalue()


def test_on_a_terminal_epochs_share_one_line():
    lines = printed(MESSAGES, tty=True).split("\n")
    assert lines[0] == MESSAGES[0] and lines[1] == MESSAGES[1]
    epoch_line = lines[2]
    assert epoch_line.count("\r") == 3 and "[########################] epoch 3/3" in epoch_line
    assert lines[3] == MESSAGES[-1]


def test_in_a_log_every_message_is_a_plain_line():
    assert printed(MESSAGES, tty=False) == "\n".join(MESSAGES) + "\n"


def test_steps_and_ticker_are_silent_without_a_terminal(capsys, tmp_path):
    with progress.steps("report") as advance:
        advance("registry")
    with progress.ticker("pip", lambda: progress.folder_megabytes(tmp_path)):
        pass
    assert capsys.readouterr().err == ""
    (tmp_path / "f").write_bytes(b"x" * 3_000_000)
    assert progress.folder_megabytes(tmp_path) == "3 MB installed"
