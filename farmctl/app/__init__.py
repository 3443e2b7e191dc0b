"""The application layer: what the farm can be asked to do, once, for every face.

The CLI (farmctl/cli/), the MQTT commands (farmctl/daemon/remote_commands.py) and the HTTP server
are faces: they read their own kind of input (arguments, JSON, multipart forms), call a use case
here, and render what it returns or the typed error it raises (farmctl/errors.py; each a
`UserError` with a one-line message). A use case owns the rules (what is checked, in which order,
what is stored) and knows nothing about any face's wording, exit codes or status codes.

Layering: this package imports the store, the scheduler, the G-code analyser and the configuration,
never a face (`farmctl.cli`, the web server). Modules:

* `farm.py`: `Farm`, one farm as the use cases see it (store, configuration, file store), and
  `open_store(home)`, the one way to open a farm's store by its home;
* `queueing.py`: queue files as jobs (`queue_files`), shared by `farmctl jobs add` and uploads;
* `jobs.py`: what a person does to a queued job (cancel, retry, hold, release, priority, move) and
  the job documents each face answers with (`farmctl jobs ...` and `/api/v1/jobs/...`);
* `control.py`: ask the daemon that drives a printer for a verb and wait for its answer (the CLI's
  `printers pause|resume|cancel|stop|recover` and the MQTT commands);
* `status.py` (with `attention.py`, `liveness.py`, `daemon_lock.py`): the farm as `status`,
  `watch` and the dashboard show it, and what waits for a person;
* `doctor.py`: the checks of `farmctl doctor`;
* `values.py`: reading the values people type (priorities, due dates) the same way in every face.
"""
