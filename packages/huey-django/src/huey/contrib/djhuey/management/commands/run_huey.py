"""``manage.py run_huey [--queue NAME] [consumer options]``: run a consumer for a configured queue.

Every option of ``huey_consumer`` is accepted (``-V``/``--huey-verbose`` stands for its ``-v``,
which Django's ``--verbosity`` takes) and overrides the queue's ``consumer`` settings. The
``tasks`` module of every installed app is imported first, unless ``-A``/``--disable-autoload``.
"""

from __future__ import annotations

import logging
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.utils.module_loading import autodiscover_modules

from huey.consumer_options import OptionParserHandler
from huey.exceptions import ConfigurationError

logger = logging.getLogger("huey.consumer")


class Command(BaseCommand):
    help = (
        "Run a huey consumer for the queue of settings.HUEY, or --queue NAME of "
        "settings.HUEY_QUEUES. Command-line options override the queue's 'consumer' settings. "
        "SIGINT stops gracefully, SIGTERM interrupts running tasks (-g TERM swaps the two), "
        "SIGHUP restarts the workers."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        OptionParserHandler().add_arguments(parser, rename={"verbose": ("-V", "--huey-verbose")})
        parser.add_argument(
            "-A",
            "--disable-autoload",
            action="store_true",
            dest="disable_autoload",
            help="do not import the tasks module of every installed app",
        )
        parser.add_argument(
            "-Q",
            "--queue",
            dest="queue",
            default=None,
            metavar="NAME",
            help="the queue to consume: 'default' (settings.HUEY, the default) or a name of "
            "settings.HUEY_QUEUES",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from huey.contrib.djhuey import HUEYS, get_queue_settings

        name = options.get("queue") or "default"
        if name not in HUEYS:
            raise CommandError(f"no queue named {name!r}; settings define: {', '.join(HUEYS)}")
        queue = get_queue_settings(name)
        handler = OptionParserHandler()
        try:
            config = handler.config_from_namespace(options, defaults=queue.consumer)
            config.validate()
        except (ConfigurationError, TypeError) as exc:
            raise CommandError(str(exc)) from exc
        config.setup_logger()

        if config.worker_type == "greenlet":
            self._check_gevent_patched()
        if not options.get("disable_autoload"):
            autodiscover_modules("tasks")

        huey = queue.huey
        if huey.immediate:
            # DEBUG's immediate mode is for the processes that enqueue; a consumer serves the
            # configured storage.
            logger.warning(
                "queue %r is in immediate mode (settings.DEBUG without 'immediate': False); "
                "this consumer turns it off and reads the configured storage",
                name,
            )
            huey.immediate = False
        # Connections opened at startup are not shared with worker threads or processes.
        connections.close_all()
        try:
            consumer = huey.create_consumer(**config.values)
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from exc
        consumer.run()

    def _check_gevent_patched(self) -> None:
        try:
            from gevent import monkey  # type: ignore[import-untyped]
        except ImportError:
            return  # The worker type's own check reports the missing gevent.
        if not monkey.is_module_patched("socket"):
            logger.warning(
                "greenlet workers without gevent's monkey-patching: blocking I/O in tasks "
                "will not yield. Patch in manage.py before Django is imported: "
                "`if 'run_huey' in sys.argv: from gevent import monkey; monkey.patch_all()`"
            )
