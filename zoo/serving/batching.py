"""Request batching, as TF Serving's `--enable_batching`: concurrent predict requests to one
signature are merged into one call of the model.

    zoo serve --enable-batching
    zoo serve --enable-batching --batching-parameters-file batching.config

A checked request waits in a queue of its signature; a batch thread takes the oldest
one, adds the requests behind it whose inputs have the same shape beyond the batch
dimension (TF Serving concatenates such inputs only, unless told to pad), up to
`max_batch_size` rows, waiting at most `batch_timeout_micros` for the batch to fill,
runs the signature once on the concatenated rows and hands each request its own rows
of every output.

What differs from running each request alone, and what does not:
- the answers: none (every output of the zoo's signatures is row by row); only float
  round-off may differ, as with any change of batch size;
- a refused row: when the merged call is refused by the signature's own checks (a NaN
  row in one request), each request of the batch runs alone, so one bad request never
  fails the others and its error names its own row;
- a request of more than `max_batch_size` rows, or to a signature whose inputs have no
  batch dimension (`initial_state`), runs alone, at once;
- more than `max_enqueued_batches * max_batch_size` rows waiting: 503 (gRPC
  UNAVAILABLE), as TF Serving answers when its batch queue is full.

The parameters file is TF Serving's text format (`batching_parameters_file`), the
fields below and nothing else:

    max_batch_size { value: 64 }
    batch_timeout_micros { value: 1000 }
    max_enqueued_batches { value: 100 }
    num_batch_threads { value: 1 }
"""

import collections
import dataclasses
import re
import threading
import time

import numpy as np
import tensorflow as tf

from zoo.serving.errors import ServingError


# What each parameter may be: beyond these a file would make the server start 10^8 threads, queue
# gigabytes of rows or hold a request for hours.
RANGES = {
    "max_batch_size": (1, 100_000),
    "batch_timeout_micros": (0, 60_000_000),  # a minute
    "max_enqueued_batches": (1, 100_000),
    "num_batch_threads": (1, 256),
}


@dataclasses.dataclass(frozen=True)
class BatchingParameters:
    """How requests are merged: TF Serving's BatchingParameters fields, with the zoo's defaults
    (measured in benchmarks/RESULTS.md, "Serving under load")."""

    max_batch_size: int = 64  # rows in one merged call
    batch_timeout_micros: int = 0  # wait for more rows; 0: merge only what queued meanwhile
    max_enqueued_batches: int = 100  # batches' worth of rows that may wait before 503s
    num_batch_threads: int = 1  # merged calls running at once (each uses every core)

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            least, most = RANGES[field.name]
            if not isinstance(value, int) or isinstance(value, bool) or not least <= value <= most:
                raise ValueError(f"batching parameter {field.name}: {value!r}; expected an integer from {least} "
                                 f"to {most:,}.")

    @classmethod
    def from_file(cls, path):
        """The parameters a TF Serving batching parameters file (text format) sets; ValueError
        naming the file, line and field for anything else."""
        try:
            text = open(path, encoding="utf-8").read()
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"batching parameters file {path}: cannot read it ({error}).") from None
        names = {field.name for field in dataclasses.fields(cls)}
        text = re.sub(r"#[^\n]*", lambda comment: " " * len(comment.group()), text)
        values, position = {}, 0
        for match in [*FIELD.finditer(text), None]:
            end = match.start() if match else len(text)
            unread = text[position:end]
            if unread.strip():
                line = text.count("\n", 0, position + len(unread) - len(unread.lstrip())) + 1
                raise ValueError(f"{path}, line {line}: cannot read {unread.strip()!r}; "
                                 "expected lines such as 'max_batch_size { value: 64 }'.")
            if match:
                name = match.group(1)
                if name not in names:
                    line = text.count("\n", 0, match.start()) + 1
                    raise ValueError(f"{path}, line {line}: field {name!r} is not one zoo serve takes; "
                                     f"it takes {sorted(names)}.")
                values[name] = int(match.group(2))
                position = match.end()
        return cls(**values)


FIELD = re.compile(r"(\w+)\s*\{\s*value\s*:\s*(-?\d+)\s*\}")


class _Request:
    """One request waiting for its rows of a merged call."""

    def __init__(self, signature, tensors, rows, key):
        self.signature, self.tensors, self.rows, self.key = signature, tensors, rows, key
        self.arrived = time.monotonic()
        self.done = threading.Event()
        self.outputs = self.error = None


class RequestBatcher:
    """Merges concurrent requests to the same signature (see the module docstring).

    `run(signature, tensors)` blocks until the request's outputs are ready and returns them
    (numpy, as `Signature.run`), or raises what running it alone would raise.
    """

    def __init__(self, parameters=BatchingParameters()):
        self.parameters = parameters
        self._capacity = parameters.max_enqueued_batches * parameters.max_batch_size
        self._timeout = parameters.batch_timeout_micros / 1e6
        self._changed = threading.Condition()
        self._queues = {}  # (signature function, input shapes) -> deque of _Request, oldest first
        self._waiting_rows = 0
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._work, name=f"zoo-serve-batch-{number}", daemon=True)
            for number in range(parameters.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def run(self, signature, tensors):
        rows = batch_rows(tensors)
        if rows is None or rows > self.parameters.max_batch_size:
            return signature.run(tensors)
        key = (signature.function, tuple((name, tuple(tensor.shape[1:])) for name, tensor in sorted(tensors.items())))
        request = _Request(signature, tensors, rows, key)
        with self._changed:
            if self._waiting_rows + rows > self._capacity:
                raise ServingError(
                    f"The batch queue is full ({self._waiting_rows} rows waiting; zoo serve "
                    "--batching-parameters-file: max_enqueued_batches x max_batch_size): try again.",
                    503,
                )
            self._queues.setdefault(key, collections.deque()).append(request)
            self._waiting_rows += rows
            self._changed.notify()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.outputs

    def stop(self):
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join()
        for queue in self._queues.values():  # requests that came too late
            for request in queue:
                request.error = ServingError("The server is stopping.", 503)
                request.done.set()

    # -- batch threads

    def _work(self):
        while True:
            with self._changed:
                batch = self._next_batch()
            if batch is None:
                return
            self._run(batch)

    def _next_batch(self):
        """The requests of the next merged call, taken off their queue (the lock held); None to stop."""
        limit = self.parameters.max_batch_size
        while not self._stopping:
            now = time.monotonic()
            ready = [queue for queue in self._queues.values()
                     if sum(request.rows for request in queue) >= limit or now - queue[0].arrived >= self._timeout]
            if ready:
                queue = min(ready, key=lambda queue: queue[0].arrived)
                batch, rows = [], 0
                while queue and rows + queue[0].rows <= limit:
                    rows += queue[0].rows
                    batch.append(queue.popleft())
                if not queue:
                    del self._queues[batch[0].key]
                self._waiting_rows -= rows
                return batch
            oldest = min((queue[0].arrived for queue in self._queues.values()), default=None)
            self._changed.wait(None if oldest is None else oldest + self._timeout - now)
        return None

    def _run(self, batch):
        if len(batch) > 1:
            try:
                merged = {name: tf.concat([request.tensors[name] for request in batch], axis=0)
                          for name in batch[0].tensors}
                outputs = batch[0].signature.run(merged)
                rows = sum(request.rows for request in batch)
                if all(np.ndim(value) and len(value) == rows for value in outputs.values()):
                    start = 0
                    for request in batch:
                        request.outputs = {name: value[start : start + request.rows] for name, value in outputs.items()}
                        start += request.rows
                        request.done.set()
                    return
            except Exception:  # noqa: BLE001 (a refused row, or any other failure of the merged call)
                pass  # each request runs alone below, for its own answer or its own error
        for request in batch:
            try:
                request.outputs = request.signature.run(request.tensors)
            except Exception as error:  # handed to the request's own thread, which raises it
                request.error = error
            request.done.set()


def batch_rows(tensors):
    """Rows of the request when every input has a batch dimension (they agree: the signature
    checks that); None when one has none (a scalar input)."""
    rows = {int(tensor.shape[0]) for tensor in tensors.values() if tensor.shape.rank}
    if len(rows) != 1 or any(tensor.shape.rank == 0 for tensor in tensors.values()):
        return None
    return rows.pop()
