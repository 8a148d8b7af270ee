"""Log lines leave the request path at once and none is lost on a graceful stop."""

from __future__ import annotations

import logging
import threading

from recalld.server.logs import _off_the_request_path, flush_logs, request_id


class _Sink(logging.Handler):
    """A sink that writes only once it is released (a slow disk, a full stderr pipe)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(request_id)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.gate.wait(30)
        self.lines.append(self.format(record))


def test_a_blocked_sink_does_not_hold_the_caller_and_every_line_is_written_at_the_stop() -> None:
    sink = _Sink()
    log = logging.getLogger("recalld.test.logs")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.handlers[:] = [_off_the_request_path("test", sink)]
    try:
        token = request_id.set("req-7")
        for i in range(500):
            log.info("call %d of %s", i, "Search")  # returns while the sink is still blocked
        request_id.reset(token)
        assert len(sink.lines) <= 1  # the writer holds at most the one it is writing
        sink.gate.set()
        flush_logs()
    finally:
        log.handlers.clear()
    assert sink.lines == [f"req-7 call {i} of Search" for i in range(500)]  # the request id of the call, in order


def test_flushing_without_writers_is_harmless() -> None:
    flush_logs()
    flush_logs()
