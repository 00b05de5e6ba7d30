"""The pillar of this node as Salt compiles it, for the command line: Salt's
own compiler (``salt.pillar``: its renderers, YAML 1.1 booleans, Jinja, the
real top files of every environment), never a reader of ours.

Which compiler, by the configuration in ``--config-dir``:

* a masterless minion (``--local``, ``file_client: local``): its own
  ``pillar_roots``, locally;
* on the manager (a ``master`` configuration beside the minion's): the
  master's ``pillar_roots`` and ext_pillar, locally, for this minion's id
  and grains: what the master sends this minion, without a network round
  trip;
* any other minion: its master (``salt.pillar.RemotePillar``), as
  ``salt-call pillar.items`` does.

Where Salt compiles locally, each pillar file the top files give this
minion is also rendered alone, in Salt's merge order, so a value can be
traced to the last file that sets it (:meth:`Compiled.source`).
"""

import dataclasses
import os

import so_telemetry_core as core

from so_telemetry.cli.output import CliError
from so_telemetry.cli.saltcall import DEFAULT_CONFIG_DIR, ask
from so_telemetry.pillar_errors import RenderErrors, locate, pillar_error


@dataclasses.dataclass
class Compiled:
    """``pillar``: the compiled pillar; ``grains``; ``node``: the minion options
    the engine reads (``id``, ``so_telemetry_root``); ``files``: ``[(path,
    data)]`` of each pillar file in merge order (empty when the master
    compiled it, or when not asked for); ``roots``: the pillar roots Salt read."""

    pillar: dict
    grains: dict
    node: dict
    files: list
    roots: list

    def context(self):
        """An engine context of this node over this pillar."""
        from so_telemetry.loader import salt_dir  # pylint: disable=import-outside-toplevel

        return core.Context(opts=dict(self.node), grains=self.grains, pillar=self.pillar,
                            files=core.context.FormulaFiles(directory=salt_dir()))

    def source(self, key):
        """The last pillar file that sets ``key`` (``a:b:c``); ``None`` when
        none does (the default); ``"pillar"`` when the master compiled it and
        the value is set."""
        if not self.files:
            return "pillar" if core.config.lookup(self.pillar, key) is not core.config.MISSING else None
        found = None
        for path, data in self.files:
            if core.config.lookup(data, key) is not core.config.MISSING:
                found = path
        return found

    def reads(self, path):
        """Whether Salt read the pillar file ``path`` (unknown, True, when the master compiled it)."""
        if not self.files:
            return True
        real = os.path.realpath(path)
        return any(os.path.realpath(p) == real for p, _d in self.files)


def _per_file(pillar):
    """``[(path, data)]``: each file the top files give this minion, rendered
    alone by Salt, in merge order."""
    top, _errors = pillar.get_top()
    out = []
    for saltenv, slss in pillar.top_matches(top).items():
        for sls in slss:
            found = pillar.client.get_state(sls, saltenv)
            data, _mods, _errs = pillar.render_pstate(sls, saltenv, {})
            out.append((found.get("dest") or f"{saltenv}:{sls}", data if isinstance(data, dict) else {}))
    return out


def _compile(opts, config_dir, grains, attribute):
    import salt.config  # pylint: disable=import-outside-toplevel
    import salt.loader  # pylint: disable=import-outside-toplevel
    import salt.pillar  # pylint: disable=import-outside-toplevel

    grains = grains if grains is not None else salt.loader.grains(opts)
    popts = opts
    master_conf = os.path.join(config_dir, "master")
    if opts.get("file_client", "remote") != "local":
        if os.path.isfile(master_conf):
            popts = salt.config.master_config(master_conf)
        else:
            import salt.minion  # pylint: disable=import-outside-toplevel

            opts.update(salt.minion.resolve_dns(opts))  # the master's address, as salt-call finds it
    # as the salt-master does for the pillars it compiles: no walk of every
    # file root to refresh the file server's caches (seconds on a manager)
    popts["__fs_update"] = True
    popts["pillar_safe_render_error"] = False  # say what failed to render, and where
    pillar = salt.pillar.get_pillar(popts, dict(grains), opts["id"], saltenv=opts.get("saltenv"),
                                    pillarenv=opts.get("pillarenv"))
    rendered = RenderErrors()
    try:
        with rendered:
            data = pillar.compile_pillar()
        files = _per_file(pillar) if attribute and isinstance(pillar, salt.pillar.Pillar) else []
    finally:
        getattr(pillar, "destroy", lambda: None)()
    errors = data.get("_errors") if isinstance(data, dict) else None
    if errors:
        raise CliError(pillar_error(errors, rendered, lambda sls: locate(popts, sls)), kind="pillar")
    roots = [r for env in (popts.get("pillar_roots") or {}).values() for r in env]
    node = {"id": opts["id"], "so_telemetry_root": opts.get("so_telemetry_root") or ""}
    return Compiled(dict(data), dict(grains), node, files, roots)


def compiled(args, grains=None, timeout=None, attribute=True):
    """This node's pillar, compiled by Salt within ``--timeout``
    (``grains``: reuse those of an earlier compile; ``attribute``: also
    render each file alone, for :meth:`Compiled.source`)."""
    # imported here, once: every forked child (one per compile) has them already
    import salt.loader  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    import salt.pillar  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import

    config_dir = args.config_dir or DEFAULT_CONFIG_DIR
    return ask(args, lambda opts: _compile(opts, config_dir, grains, attribute), "the pillar", timeout)
