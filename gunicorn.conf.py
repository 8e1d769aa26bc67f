"""gunicorn's configuration for serving studiosim in production.

gunicorn reads this file when started from the repository's root::

    gunicorn studiosim.wsgi:application

(``make serve`` does that). Environment variables set the deployment's values;
command-line options override any of them (the benchmark sets its own port,
worker count and access log).

- ``BIND`` (default ``127.0.0.1:8000``): the address; put a TLS-terminating
  proxy in front and set ``FORWARDED_ALLOW_IPS`` to its address.
- ``WEB_CONCURRENCY`` (default: the CPUs this process may use, + 1): sync worker
  processes; set it where a CPU quota, not a cpuset, limits a container. Requests are
  CPU-bound (model inference, the inverse solver) and hold no slow I/O, so
  workers beyond the cores only queue; one spare covers the database waits.
- ``GUNICORN_TIMEOUT`` (default 60 s): a worker silent this long is restarted.
  The slowest request, an uncached inverse prediction, takes well under a
  second; training runs in Celery, never in a request. No wait inside a request
  comes near it: the database's are bounded by ``DATABASE_CONNECT_TIMEOUT`` and
  ``DATABASE_STATEMENT_TIMEOUT`` (+2 s), the LLM's by ``OPENAI_TIMEOUT``, Redis's
  by half a second (docs/faults.md).

The app is loaded once, in the master, before the workers are forked
(``preload_app``): the workers share its memory, a broken configuration stops
start-up instead of looping worker restarts, and the hooks below run with
Django set up.
"""

import gc
import logging
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
# The CPUs this process may run on (a container's cpuset, not the host's count).
_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
workers = int(os.environ.get("WEB_CONCURRENCY", (_cpus or os.cpu_count() or 1) + 1))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
graceful_timeout = 30
preload_app = True
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = "-"
errorlog = "-"
# The request time (%(M)s, milliseconds) last, for log-based latency figures.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# gunicorn 27's control socket lives at one path per user ($HOME/.gunicorn), so two
# servers of one user would take each other's; nothing here uses it. (Older
# gunicorns ignore the unknown name.)
control_socket_disable = True

logger = logging.getLogger("studiosim.server")


def on_starting(server):
    """In the master, after the app is loaded and before the address is bound and
    any worker forked.

    - Import the URLconf, and with it the GraphQL schema and the model code
      (half a second). Done here, before the port accepts connections, so that
      no request waits for it: not in each worker, nor after the port is open.
    - Close the database connections the start-up may have opened: a socket
      shared by forked processes would interleave their queries.
    - Move every object alive now (Django, pandas, LightGBM, the schema: about
      270,000) into the collector's permanent generation (``gc.freeze``). The
      workers inherit them frozen, so a worker's full collection no longer
      walks them (``bench/cold_start.py`` measures it), and the pages holding
      them stay shared instead of being copied when the collector writes to
      them (the ``gc.freeze`` documentation's advice for a fork without exec).
    """
    from django.db import connections
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - importing the URLconf is the point
    connections.close_all()
    gc.freeze()


def post_worker_init(worker):
    """In each worker, before it accepts a request: load the active model.

    Loading a version's artifacts (checksums verified) takes some 60 ms, which
    a worker's first prediction would otherwise pay. It is loaded here and not
    in the master so that nothing the model starts (LightGBM's and XGBoost's
    OpenMP threads) crosses a fork: GNU OpenMP does not support a thread pool
    used on both sides of one (GCC bug 52303). A worker that cannot load it (no
    active model yet, the database refusing or hanging: the attempt gives up
    after ``DATABASE_CONNECT_TIMEOUT``) starts anyway, answers 503 while the
    database is away, and loads the model on first use once it is back
    (tests/faults/test_database_faults.py).
    """
    from django.db import connections

    from forecasting.registry import active_model
    from studiosim.errors import NoActiveModel

    try:
        active_model()
    except NoActiveModel:
        logger.warning("No active model to load: run manage.py train_model.")
    except Exception:
        logger.exception("Could not load the active model; loading on first use.")
    finally:
        connections.close_all()
