"""The context of one engine call: what Salt's loader dunders hold in a module
(opts, grains, pillar), a reader of the formula's own files (``defaults.yaml``,
templates) and a cache. Nothing in the core reads a dunder: the execution and
state modules build a :class:`Context` with :meth:`Context.from_loader`, the
command line with plain dicts.

A Context also memoises what one call computes more than once (the merged
map of a component, the decision), so the decision is made once per call and
passed on."""

import os

from .validate import PillarError

FORMULA = "so_telemetry"
# The saltenv `so-telemetry install --security-onion` serves the library in
# (its own file_roots and pillar_roots environment, beside Security Onion's
# `base`); everywhere else the formula is in `base`.
FORMULA_ENV = "so_telemetry"
_HERE = os.path.dirname(os.path.abspath(__file__))


def formula_dir():
    """The formula's directory on disk, ``salt/so_telemetry``: the checkout's
    (``_utils/so_telemetry_core`` beside ``salt/``) or the installed wheel's
    (``so_telemetry/salt/so_telemetry``); None on a minion that only has
    the synced core (it reads the formula through the file server)."""
    for cand in (
        os.path.join(_HERE, os.pardir, os.pardir, "salt", FORMULA),
        os.path.join(_HERE, os.pardir, "so_telemetry", "salt", FORMULA),
    ):
        if os.path.isfile(os.path.join(cand, "defaults.yaml")):
            return os.path.normpath(cand)
    return None


class FormulaFiles:
    """Text of ``salt://so_telemetry/<relpath>``: through Salt's file server
    (``fetch``, i.e. ``cp.get_file_str``) when there is one, else from the
    formula's directory on disk. The file server is asked in
    :data:`FORMULA_ENV` where the master has that environment (``envs``,
    i.e. ``cp.envs``: a Security Onion manager, where the formula is not in
    ``base``), else in the minion's saltenv (``base`` unless set); the other
    one only if the first has no such file (Salt logs an error for each file
    it cannot find in an environment: a highstate must not).

    ``fetch_many`` (``cp.cache_files``: local paths of several files through
    one Salt file client) serves :meth:`prefetch_all`: outside a state run
    every ``cp.get_file_str`` builds a new file client (about 0.05 s each)."""

    def __init__(self, fetch=None, directory=None, cache=None, saltenv=None, envs=None, fetch_many=None):
        self.fetch = fetch
        self.fetch_many = fetch_many
        self.directory = directory
        self.cache = {} if cache is None else cache
        self.envs = envs
        self.saltenvs = list(dict.fromkeys([saltenv or "base", FORMULA_ENV]))
        self.ordered = False

    def _order(self):
        """The environments to ask, the formula's own first where the master has it."""
        if not self.ordered:
            self.ordered = True
            try:
                own = self.envs is not None and FORMULA_ENV in (self.envs() or [])
            except Exception:  # noqa: BLE001  pylint: disable=broad-except
                own = False  # no file server to ask
            if own:
                self.saltenvs = [FORMULA_ENV, *[e for e in self.saltenvs if e != FORMULA_ENV]]
        return list(self.saltenvs)

    def _served(self, relpaths, many=False):
        """``{relpath: text}`` from the file server: from the first
        environment that serves any of them, which is then the only one asked
        (the formula's environment). ``many``: through ``fetch_many``."""
        for env in self._order():
            try:
                texts = self._fetched_many(relpaths, env) if many else {
                    rel: self.fetch(f"salt://{FORMULA}/{rel}", saltenv=env) for rel in relpaths}
            except Exception:  # noqa: BLE001  pylint: disable=broad-except
                texts = {}  # no file server (masterless without roots, a broken one, no such saltenv)
            texts = {rel: text for rel, text in texts.items() if text}
            if texts:
                self.saltenvs = [env]
                return texts
        return {}

    def _fetched_many(self, relpaths, env):
        local = self.fetch_many([f"salt://{FORMULA}/{rel}" for rel in relpaths], saltenv=env) or []
        texts = {}
        for rel, path in zip(relpaths, local):
            if isinstance(path, str) and path and os.path.isfile(path):
                with open(path, encoding="utf-8") as fh:
                    texts[rel] = fh.read()
        return texts

    def text(self, relpath):
        if relpath in self.cache:
            return self.cache[relpath]
        text = self._served([relpath]).get(relpath) if self.fetch is not None else None
        if not text:
            directory = self.directory or formula_dir()
            path = os.path.join(directory, *relpath.split("/")) if directory else None
            if path and os.path.isfile(path):
                with open(path, encoding="utf-8") as fh:
                    text = fh.read()
        if not text:
            raise PillarError(
                f"salt://{FORMULA}/{relpath} not found: serve this library with file_roots [<repo>/salt, <repo>]"
            )
        self.cache[relpath] = text
        return text

    def prefetch_all(self, relpaths):
        """Read every file of ``relpaths`` into the cache now, through one
        file client where there is ``fetch_many``; a file that cannot be read
        is left to raise when it is asked for."""
        wanted = [rel for rel in relpaths if rel not in self.cache]
        if wanted and self.fetch is not None and self.fetch_many is not None:
            self.cache.update(self._served(wanted, many=True))
        for rel in relpaths:
            self.prefetch(rel)

    def prefetch(self, relpath):
        """Read ``relpath`` into the cache now if it can be read; a file
        that cannot is left to raise when it is asked for."""
        try:
            self.text(relpath)
        except PillarError:
            pass


def _plain(data):
    try:
        return dict(data or {})
    except (TypeError, ValueError):
        return {}


class Context:
    """``opts``, ``grains``, ``pillar`` (mappings, never changed), ``files``
    (:class:`FormulaFiles`), ``cache`` (kept between calls: Salt's
    ``__context__`` in a module) and ``saved_schedule`` (a callable giving
    the minion's persisted schedule, ``{job: settings}``)."""

    def __init__(self, opts=None, grains=None, pillar=None, files=None, cache=None, saved_schedule=None):
        self.opts = opts if opts is not None else {}
        self.grains = grains if grains is not None else {}
        self.pillar = _plain(pillar)
        self.cache = {} if cache is None else cache
        self.files = files or FormulaFiles(cache=self.cache.setdefault("telemetry.files", {}))
        self.saved_schedule = saved_schedule or (lambda: {})
        self._memo = {}

    @classmethod
    def from_loader(cls, opts, grains, pillar, salt, context):
        """The context of a call from an execution or state module (its
        ``__opts__``, ``__grains__``, ``__pillar__``, ``__salt__``,
        ``__context__``)."""
        cache = context if context is not None else {}
        files = FormulaFiles(fetch=salt.get("cp.get_file_str"), cache=cache.setdefault("telemetry.files", {}),
                             saltenv=opts.get("saltenv"), envs=salt.get("cp.envs"),
                             fetch_many=salt.get("cp.cache_files"))
        lister = salt.get("schedule.list")

        def saved():
            return lister(offline=True, return_yaml=False) if lister else {}

        return cls(opts=opts, grains=grains, pillar=pillar, files=files, cache=cache, saved_schedule=saved)

    def memo(self, key, compute):
        """``compute()`` once per context (its exception too: raised again)."""
        if key not in self._memo:
            try:
                self._memo[key] = (compute(), None)
            except PillarError as exc:
                self._memo[key] = (None, exc)
        value, exc = self._memo[key]
        if exc is not None:
            raise exc
        return value
