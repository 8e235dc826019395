"""moto's own server, with five of moto 5.2.5's per-request costs taken out and its behaviour unchanged.

Why: the chaos run drives ~100k AWS requests through two moto processes on two cores, and py-spy showed
moto's SQS process spending 80% of its CPU outside the work a request asks for:

* every message sent recomputes all queue attributes (`Queue.attributes`, for one flag), and every
  message received recomputes them twice (`is_message_valid_based_on_retention_period` reads one
  attribute through `get_queue_attributes`), each recomputation scanning the whole queue three times;
* each of those scans reads the clock per message through `datetime` arithmetic (`unix_time_millis`),
  about 3 us a call;
* every request lists moto's package directory to match a backend (`list_of_moto_modules`), under the
  dispatcher's global lock;
* werkzeug formats a log line per request, which the launcher sends to /dev/null.

werkzeug also closes every connection after one request: a TCP connect and a new moto thread per AWS
call, which under the chaos run's load left moto accepting too slowly (connect timeouts, then 503s to
Logiwa's webhooks). `WAYBILL_MOTO_KEEP_ALIVE=1` (set by waybill-local; see `patch_keep_alive` for why
not by the test binaries) keeps them alive.

Each patch below returns exactly what the code it replaces returns (same clock, same comparisons, same
attribute values); only the number of times the work is done changes. They are applied only to the
pinned moto version (infra/requirements.txt): on any other version moto runs unpatched, with a warning.
"""

import logging
import os
import sys
import time

import moto

PINNED = "5.2.5"


def _now() -> float:
    # moto.core.utils.unix_time(): seconds since the epoch in UTC, computed through naive datetimes.
    return time.time()


def patch_sqs() -> None:
    from moto.sqs import models

    slow_unix_time = models.unix_time
    slow_unix_time_millis = models.unix_time_millis

    def unix_time(dt=None):
        return _now() if dt is None else slow_unix_time(dt)

    def unix_time_millis(dt=None):
        return _now() * 1000.0 if dt is None else slow_unix_time_millis(dt)

    # Message.visible / .delayed / mark_* and the receive loop read these module globals.
    models.unix_time = unix_time
    models.unix_time_millis = unix_time_millis

    Queue = models.Queue

    # The three counts and the visible list, each with one clock reading per scan instead of one or two
    # per message; the comparisons are Message.visible (now > visible_at) and Message.delayed
    # (now < delayed_until).
    def messages(self):
        now = _now() * 1000.0
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def delayed(self):
        now = _now() * 1000.0
        return sum(1 for m in self._messages if now < m.delayed_until)

    def not_visible(self):
        now = _now() * 1000.0
        return sum(1 for m in self._messages if not now > m.visible_at)

    def visible_count(self):
        return len(self.messages)

    Queue.messages = property(messages)
    Queue.approximate_number_of_messages_delayed = property(delayed)
    Queue.approximate_number_of_messages_not_visible = property(not_visible)
    Queue.approximate_number_of_messages = property(visible_count)

    # get_queue_attributes(name, ["MessageRetentionPeriod"]) returns getattr(queue,
    # "message_retention_period"), after building every attribute twice to find it.
    def is_message_valid_based_on_retention_period(self, queue_name, message):
        retention_period = self.get_queue(queue_name).message_retention_period
        return retention_period + message.sent_timestamp / 1000 > _now()

    models.SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period


def patch_dispatch() -> None:
    from moto import backends

    # The installed package's directories do not change while the server runs.
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


def patch_keep_alive() -> None:
    """HTTP/1.1 keep-alive, which werkzeug's development server turns off (only when asked for, below).

    werkzeug answers every request with `Connection: close` because, after a response, it drains
    whatever the client sent, which on a kept-alive connection would swallow the next request. So
    every AWS call paid a TCP connect on our side and a new thread on moto's. Here a connection stays
    open, and werkzeug's drain is replaced by reading exactly what is left of the request's body (its
    Content-Length, counted on the socket), never the next request; a chunked request still closes.

    Only for clients on one async runtime (waybill-local): a test binary runs each test on its own
    runtime while sharing one pooled HTTP client, and a connection opened on a runtime that has since
    shut down is dead in the pool; the next request on it fails after moto may have carried it out.
    """
    import selectors

    from werkzeug import serving

    class CountingReader:
        """The request socket's reader, counting body bytes read past the request head."""

        def __init__(self, raw):
            self._raw = raw
            self.body_read = 0

        def read(self, size=-1):
            data = self._raw.read(size)
            self.body_read += len(data)
            return data

        def readline(self, size=-1):
            data = self._raw.readline(size)
            self.body_read += len(data)
            return data

        def readinto(self, buffer):
            n = self._raw.readinto(buffer)
            self.body_read += n or 0
            return n

        # Every other way of reading the body counts too: an uncounted read would make the drain below
        # read into the next request.
        def read1(self, size=-1):
            data = self._raw.read1(size)
            self.body_read += len(data)
            return data

        def readinto1(self, buffer):
            n = self._raw.readinto1(buffer)
            self.body_read += n or 0
            return n

        def readlines(self, hint=-1):
            lines = self._raw.readlines(hint)
            self.body_read += sum(len(line) for line in lines)
            return lines

        def __iter__(self):
            return iter(self.readline, b"")

        def __getattr__(self, name):
            return getattr(self._raw, name)

    class NoDrainSelector:
        """werkzeug's post-response drain, made a no-op: it only runs once a body is known to be read."""

        def register(self, *_args, **_kwargs):
            return None

        def select(self, timeout=None):
            return []

        def close(self):
            return None

    class SelectorsShim:
        EVENT_READ = selectors.EVENT_READ
        DefaultSelector = NoDrainSelector

    serving.selectors = SelectorsShim

    handler = serving.WSGIRequestHandler
    original_send_header = handler.send_header
    original_run_wsgi = handler.run_wsgi

    def send_header(self, keyword, value):
        if keyword.lower() == "connection" and value.lower() == "close" and not self._waybill_close:
            return None
        return original_send_header(self, keyword, value)

    def run_wsgi(self):
        length = self.headers.get("Content-Length")
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        expected = int(length) if length and length.isdigit() else 0
        reader = CountingReader(self.rfile)
        self.rfile = reader
        # Decided before the app runs, since the header goes out with the first byte of the answer.
        self._waybill_close = chunked
        try:
            original_run_wsgi(self)
        finally:
            self.rfile = reader._raw
        if chunked:
            self.close_connection = True
            return
        remaining = expected - reader.body_read
        if remaining > 0:
            # moto answers some requests (an error about a missing table, say) without reading their
            # body; closing a socket with unread bytes sends a reset that can destroy the answer.
            try:
                self.connection.settimeout(5)
                while remaining > 0:
                    data = self.rfile.read(min(remaining, 1 << 20))
                    if not data:
                        break
                    remaining -= len(data)
            except OSError:
                pass
            finally:
                self.connection.settimeout(None)
            if remaining > 0:
                self.close_connection = True

    handler.send_header = send_header
    handler.run_wsgi = run_wsgi
    # werkzeug writes the head and the body of an answer separately; on a kept-alive connection Nagle's
    # algorithm then holds the body until the client's delayed ACK, 40 ms a request.
    handler.disable_nagle_algorithm = True


def main() -> None:
    if moto.__version__ == PINNED:
        patch_sqs()
        patch_dispatch()
        if os.environ.get("WAYBILL_MOTO_KEEP_ALIVE") == "1":
            patch_keep_alive()
    else:
        print(
            f"waybill moto launcher: moto {moto.__version__} is not the pinned {PINNED}; running unpatched",
            file=sys.stderr,
        )
    # One line per request, formatted under a lock, for a stream the launcher discards.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from moto.server import main as moto_main

    sys.exit(moto_main())


if __name__ == "__main__":
    main()
