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

werkzeug also closes every connection after one request (a TCP connect and a new moto thread per AWS
call). Keeping them alive was tried and dropped: moto leaves some request bodies unread, and the SDK
then saw answers cut off and retried requests moto had already carried out.

Each patch below returns exactly what the code it replaces returns (same clock, same comparisons, same
attribute values); only the number of times the work is done changes. They are applied only to the
pinned moto version (infra/requirements.txt): on any other version moto runs unpatched, with a warning.
"""

import logging
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


def main() -> None:
    if moto.__version__ == PINNED:
        patch_sqs()
        patch_dispatch()
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
