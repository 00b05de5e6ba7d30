"""The ``so-telemetry`` command, one module per command family: ``status``,
``channels`` (enable, disable, prompt), ``config`` (search), ``audit``,
``check``, ``sync``; ``main`` parses the options and prints errors;
``saltcall`` asks Salt within a deadline; ``output`` is what they share."""
