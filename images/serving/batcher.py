"""Coalesces concurrent requests into one predict call.

Rows from requests that arrive while a predict runs wait in a queue and go into the next call
together, so under load one call scores many requests (a random forest costs about the same for one
row as for a hundred) while a lone request is scored at once. `wait_seconds` optionally holds the
first request a moment longer for company. Predict runs on one worker thread, never on the event loop.
If a batch fails, each request in it is retried alone, so one request that breaks the model cannot
fail the others. Requests name their method ("predict", "predict_proba"): a batch holds requests of
one method only, taken in arrival order; requests of the other method keep their place in the queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

#: Checked input of one request: one list of values per signature column.
Columns = list[list[Any]]


class ModelFailure(RuntimeError):
    """The model raised on input that passed the contract; answered with HTTP 500."""


@dataclass
class _Pending:
    columns: Columns
    rows: int
    method: str
    future: asyncio.Future[list[Any]]


@dataclass
class Batcher:
    #: Scores concatenated columns with the named method and returns one JSON-ready answer per row.
    predict: Callable[[Columns, str], list[Any]]
    executor: Executor
    max_rows: int = 1024
    wait_seconds: float = 0.0
    _queue: list[_Pending] = field(default_factory=list)
    _running: bool = False

    async def submit(self, columns: Columns, method: str = "predict") -> list[Any]:
        loop = asyncio.get_running_loop()
        pending = _Pending(columns, len(columns[0]) if columns else 0, method, loop.create_future())
        self._queue.append(pending)
        if not self._running:
            self._running = True
            loop.create_task(self._drain())
        return await pending.future

    def _take(self) -> list[_Pending]:
        """The oldest request and the ones after it of the same method, in order, up to max_rows in all."""
        first = self._queue.pop(0)
        batch, rows, rest, full = [first], first.rows, [], False
        for item in self._queue:
            if not full and item.method == first.method:
                full = rows + item.rows > self.max_rows  # the first that does not fit waits, and all after it
                if not full:
                    batch.append(item)
                    rows += item.rows
                    continue
            rest.append(item)
        self._queue[:] = rest
        return batch

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                if self.wait_seconds > 0 and sum(p.rows for p in self._queue) < self.max_rows:
                    await asyncio.sleep(self.wait_seconds)
                else:
                    await asyncio.sleep(0)  # let requests already parsed on this loop tick join
                batch = self._take()
                results = await loop.run_in_executor(self.executor, self._score, batch)
                for item, result in zip(batch, results):
                    if item.future.done():
                        continue
                    if isinstance(result, BaseException):
                        item.future.set_exception(result)
                    else:
                        item.future.set_result(result)
        finally:
            self._running = False

    def _score(self, batch: list[_Pending]) -> list[list[Any] | BaseException]:
        """Runs on the executor thread: one call for the whole batch, split back per request."""
        if len(batch) == 1:
            return [self._score_one(batch[0])]
        joined = [list(chain.from_iterable(item.columns[c] for item in batch)) for c in range(len(batch[0].columns))]
        try:
            predictions = self.predict(joined, batch[0].method)
        except Exception:
            return [self._score_one(item) for item in batch]
        total = sum(item.rows for item in batch)
        if len(predictions) != total:
            return [ModelFailure(f"the model returned {len(predictions)} predictions for {total} rows")] * len(batch)
        out: list[list[Any] | BaseException] = []
        start = 0
        for item in batch:
            out.append(predictions[start : start + item.rows])
            start += item.rows
        return out

    def _score_one(self, item: _Pending) -> list[Any] | BaseException:
        try:
            predictions = self.predict(item.columns, item.method)
        except Exception as err:
            return ModelFailure(f"the model failed to predict: {type(err).__name__}: {_first_line(err)}")
        if len(predictions) != item.rows:
            return ModelFailure(f"the model returned {len(predictions)} predictions for {item.rows} rows")
        return predictions


def _first_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300]
