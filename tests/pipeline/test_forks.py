"""forks: a task run in a forked child comes back as its value, or as its exception; a child
that dies or is no longer wanted is reaped, never left behind."""

from __future__ import annotations

import os
import signal

import pytest

from pcaptls.errors import InputError
from pcaptls.pipeline import forks

pytestmark = pytest.mark.skipif(not forks.can_fork(), reason="workers are forked only on Linux")


def _pid_and(x: int) -> tuple[int, int]:
    return os.getpid(), x * 2


def _fails(path: str) -> None:
    raise InputError(f"{path}: not a capture")


def _dies() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _unpicklable() -> object:
    return lambda: None


def _gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_value_comes_back_from_another_process() -> None:
    with forks.Forked(_pid_and, 21) as w:
        pid, value = w.result()
    assert value == 42 and pid != os.getpid()
    assert _gone(pid)


def test_a_closure_needs_no_pickling() -> None:
    here = {"made": "before the fork"}
    with forks.Forked(lambda: here["made"]) as w:
        assert w.result() == "before the fork"


def test_exception_is_raised_here_with_where_it_failed() -> None:
    with forks.Forked(_fails, "x.pcap") as w:
        with pytest.raises(InputError, match="x.pcap: not a capture") as got:
            w.result()
    assert "_fails" in str(got.value.__cause__)  # the child's traceback, for --debug


def test_a_child_that_dies_is_an_error_not_a_hang() -> None:
    with forks.Forked(_dies) as w:
        with pytest.raises(RuntimeError, match="ended without a result.*signal 9"):
            w.result()


def test_a_result_that_does_not_pickle_is_said() -> None:
    with forks.Forked(_unpicklable) as w:
        with pytest.raises(RuntimeError, match="result does not pickle"):
            w.result()


def test_leaving_without_the_result_stops_and_reaps_the_child() -> None:
    import time

    with pytest.raises(KeyError):
        with forks.Forked(time.sleep, 60) as w:
            pid = w._pid
            raise KeyError("this process failed first")
    assert pid is not None and _gone(pid)
