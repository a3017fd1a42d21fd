"""jobfleet chaos validation suite.

A run injects faults into a live compose cluster while a workload submits jobs, records
everything that happened as a JSON-lines *history*, and then checks that history with a pure
function (:func:`chaos.checker.check`) in the spirit of Jepsen's total-queue checker:
every acknowledged job must have run to completion at least once.

Modules, in data-flow order:

* :mod:`chaos.scenarios` - named fault schedules + workload shapes, reproducible from a seed.
* :mod:`chaos.workload`  - submits jobs over HTTP and records ok / fail / info outcomes.
* :mod:`chaos.faults`    - docker-SDK fault injection against the cluster's containers
  (building blocks in :mod:`chaos.faultkit`, container discovery in :mod:`chaos.containers`).
* :mod:`chaos.observe`   - queue sampling during the run and read-back of every job after it.
* :mod:`chaos.history`   - the event schema and its JSON-lines save / load.
* :mod:`chaos.checker`   - the verdict, a pure function of a history (helpers in
  :mod:`chaos.stats`).
* :mod:`chaos.report`    - JSON summary, Markdown report and timeline PNG.
* :mod:`chaos.runner` / :mod:`chaos.cli` - orchestration and the command line.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
