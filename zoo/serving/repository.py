"""The models under a base folder, as `zoo serve` serves them: which versions, loaded and warmed up.

`<base>/<model>/<version>/` holds SavedModels. Which versions are served follows
`<base>/models.config`'s `model_version_policy` for the model (default: the latest
version, as in TF Serving); `version_labels` come from there too. The folder and
the config are polled every `poll_seconds`: a new version or model is loaded and
warmed up with its `tf_serving_warmup_requests` while the current one keeps
serving, then swapped in. A version that fails to load is reported (state END)
and tried again once its files change (as TF Serving's file system source does), so
a version copied in file by file comes up when the copy is complete.
"""

import dataclasses
import logging
import pathlib
import threading

from tensorflow_serving.apis import get_model_status_pb2

from zoo.layout import MODELS_CONFIG, model_names, read_models_config, read_warmup_requests, versions
from zoo.loading import SavedModel
from zoo.serving.errors import ServingError

POLL_SECONDS = 1.0  # as TF Serving's --file_system_poll_wait_seconds

log = logging.getLogger("zoo.serve")  # the name zoo serve has always logged under


@dataclasses.dataclass
class Servable:
    """One version of one model, as the status API reports it."""

    version: int
    state: str = "LOADING"  # then AVAILABLE, or END when loading failed
    model: SavedModel = None
    error: str = ""
    files: tuple = ()  # (path, size, mtime) of the version's files when a load failed


def file_stamp(folder):
    """What changes when any file under `folder` is added, removed or rewritten."""
    stamp = []
    for path in folder.rglob("*"):
        try:
            stat = path.stat()
        except OSError:  # removed while we looked: the next poll sees the change
            continue
        stamp.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(stamp))


class ModelRepository:
    """The models under `base_path`, their loaded versions, and `models.config`'s policies and labels.

    `refresh()` brings the loaded versions in line with the folder; `start()` does one
    refresh and then polls in a background thread.
    """

    def __init__(self, base_path, poll_seconds=POLL_SECONDS):
        self.base_path = pathlib.Path(base_path)
        self.poll_seconds = poll_seconds
        self._servables = {}  # model name -> {version: Servable}
        self._configs = {}  # model name -> ModelConfig from models.config
        self._config_stamp = None  # (mtime, size) of the models.config read last
        self._lock = threading.Lock()  # guards the two dicts above
        self._refresh_lock = threading.Lock()  # one refresh at a time
        self._stopped = threading.Event()
        self._poller = None

    def start(self):
        self.refresh()
        self._poller = threading.Thread(target=self._poll, name="zoo-serve-poll", daemon=True)
        self._poller.start()

    def stop(self, timeout=None):
        """Stops polling; waits up to `timeout` seconds for a refresh in progress."""
        self._stopped.set()
        if self._poller:
            self._poller.join(timeout)

    def _poll(self):
        while not self._stopped.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:  # a bad poll must not stop later ones
                log.exception("zoo serve: polling %s failed", self.base_path)

    def refresh(self):
        """Loads the versions the policies want and are not loaded, then unloads the others.

        Loading comes first, so a model never goes without an available version
        while its next one loads (TF Serving's availability-preserving policy); if
        none of the wanted versions loads, the latest available one stays.
        """
        with self._refresh_lock:
            self._read_config()
            wanted = {name: self._wanted_versions(name) for name in model_names(self.base_path)}
            for name, wanted_versions in wanted.items():
                for version in wanted_versions:
                    with self._lock:
                        known = self._servables.get(name, {}).get(version)
                        if known and not (known.state == "END" and self._changed_since_failure(name, known)):
                            continue  # loaded, or failed and unchanged since
                        self._servables.setdefault(name, {})[version] = servable = Servable(version)
                    self._load(name, servable)
            with self._lock:
                for name in list(self._servables):
                    servables = self._servables[name]
                    keep = set(wanted.get(name, ()))
                    available = [v for v, s in servables.items() if s.state == "AVAILABLE"]
                    if name in wanted and available and not keep & set(available):
                        keep.add(max(available))  # a broken new version does not take the model down
                    kept = {version: servable for version, servable in servables.items() if version in keep}
                    if kept:
                        self._servables[name] = kept
                    else:
                        del self._servables[name]

    def _load(self, name, servable):
        path = self.base_path / name / str(servable.version)
        try:
            model = SavedModel(path)
            for signature_name, inputs in read_warmup_requests(path):
                model(inputs, signature_name=signature_name)
        except Exception as error:  # any failure: report it in the status, keep serving others
            log.error("zoo serve: loading %s failed: %s", path, error)
            servable.error = f"Loading {path} failed: {type(error).__name__}: {error}"
            servable.files = file_stamp(path)
            servable.state = "END"
            return
        servable.model = model
        servable.state = "AVAILABLE"
        log.info("zoo serve: serving %s version %d", name, servable.version)

    def _changed_since_failure(self, name, servable):
        return file_stamp(self.base_path / name / str(servable.version)) != servable.files

    def _read_config(self):
        path = self.base_path / MODELS_CONFIG
        try:
            stat = path.stat()
        except FileNotFoundError:
            with self._lock:
                self._configs, self._config_stamp = {}, None
            return
        if (stat.st_mtime_ns, stat.st_size) == self._config_stamp:
            return
        self._config_stamp = (stat.st_mtime_ns, stat.st_size)
        try:
            config, _ = read_models_config(path)
        except ValueError as error:
            log.error("zoo serve: %s; keeping the policies and labels read before.", error)
            return
        with self._lock:
            self._configs = {model.name: model for model in config.model_config_list.config}

    def _wanted_versions(self, name):
        present = versions(self.base_path / name)
        policy = self._configs[name].model_version_policy if name in self._configs else None
        choice = policy.WhichOneof("policy_choice") if policy else None
        if choice == "all":
            return present
        if choice == "specific":
            return [version for version in present if version in set(policy.specific.versions)]
        latest = policy.latest.num_versions if choice == "latest" else 0
        return present[-(latest or 1) :]

    def model_names(self):
        with self._lock:
            return sorted(self._servables)

    def _version_for_label(self, name, label):
        with self._lock:
            labels = self._configs[name].version_labels if name in self._configs else {}
            if label not in labels:
                raise ServingError(f"Unrecognized servable version label: {label}")
            return labels[label]

    def resolve(self, name, version=None, label=None):
        """The SavedModel a request names: a version, a label's version, or the latest available."""
        if label is not None:
            version = self._version_for_label(name, label)
        with self._lock:
            servables = dict(self._servables.get(name, {}))
        if version is None:
            available = [s for s in servables.values() if s.state == "AVAILABLE"]
            if not available:
                raise ServingError(f"Servable not found for request: Latest({name})", 404)
            return max(available, key=lambda s: s.version).model
        servable = servables.get(version)
        if servable is None or servable.state != "AVAILABLE":
            raise ServingError(f"Servable not found for request: Specific({name}, {version})", 404)
        return servable.model

    def status(self, name, version=None, label=None):
        """TF Serving's GetModelStatusResponse for a model, or one version of it."""
        if label is not None:
            version = self._version_for_label(name, label)
        with self._lock:
            servables = dict(self._servables.get(name, {}))
        if version is not None:
            if version not in servables:
                raise ServingError(f"Could not find version {version} of model {name}", 404)
            servables = {version: servables[version]}
        if not servables:
            raise ServingError(f"Could not find any versions of model {name}", 404)
        response = get_model_status_pb2.GetModelStatusResponse()
        for servable in sorted(servables.values(), key=lambda s: s.version):
            status = response.model_version_status.add(version=servable.version, state=servable.state)
            status.status.error_code = "UNKNOWN" if servable.error else "OK"
            status.status.error_message = servable.error
        return response
