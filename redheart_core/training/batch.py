"""Batch analysis on Lightning: ``Trainer.predict`` over the lines of a JSONL file.

Each process (one per device, across nodes with DDP) builds its own redheart
:class:`~redheart_core.pipeline.Pipeline` once and runs every record of a batch through it
concurrently, LLM stages included, so the pipeline's own concurrency and micro-batching apply
within each batch. A prediction writer per rank appends one line per record and flushes it;
see :mod:`.results` for how an interrupted run resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, Dataset

from ..errors import error_type
from .data import DatasetError, json_objects
from .results import RecordWriter, ResultsFile
from .trainers import make_trainer


@dataclass(frozen=True)
class BatchRecord:
    """One input line: its id (given, or derived from the text) and the text."""

    id: str
    text: str
    line: int


def record_id(text: str) -> str:
    """A stable id for a record without one: the same text gets the same id on every rerun."""
    return "sha256-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def read_batch_input(path: str | Path) -> list[BatchRecord]:
    """The records of a batch input file (``{"id"?, "text", ...}`` per line).

    A bad line raises :class:`DatasetError` naming the line and the field. Two lines with the
    same id are an error unless they carry the same text (then the second is the same request
    and is dropped).
    """
    records: list[BatchRecord] = []
    seen: dict[str, BatchRecord] = {}
    for number, obj in json_objects(path):
        text = obj.get("text")
        if not isinstance(text, str) or not text.strip():
            raise DatasetError(path, number, "text", "missing or empty")
        given = obj.get("id")
        if given is not None and (not isinstance(given, (str, int)) or isinstance(given, bool) or str(given) == ""):
            raise DatasetError(path, number, "id", f"expected a non-empty string or integer, got {given!r}")
        rid = str(given) if given is not None else record_id(text)
        record = BatchRecord(rid, text, number)
        if rid in seen:
            if seen[rid].text != text:
                raise DatasetError(path, number, "id", f"id {rid!r} is already used on line "
                                   f"{seen[rid].line} for another text; ids must be unique")
            continue
        seen[rid] = record
        records.append(record)
    if not records:
        raise DatasetError(path, None, None, "holds no records")
    return records


class RecordDataset(Dataset):
    def __init__(self, records: Sequence[BatchRecord]):
        self.records = list(records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> BatchRecord:
        return self.records[index]


def _as_list(batch: list[BatchRecord]) -> list[BatchRecord]:
    return batch


class BatchDataModule(L.LightningDataModule):
    """The input records not yet answered in the output file.

    ``prepare_data`` runs on global rank 0 only, before any rank reads the output, and
    consolidates what an earlier run left; ``setup`` then gives every rank the same list.
    """

    prepare_data_per_node = False

    def __init__(self, input_path: str | Path, results: ResultsFile, batch_size: int):
        super().__init__()
        self.input_path = Path(input_path)
        self.results = results
        self.batch_size = batch_size
        self.todo: list[BatchRecord] = []

    def prepare_data(self) -> None:
        self.results.consolidate()

    def setup(self, stage: str | None = None) -> None:
        done = self.results.done_ids()
        self.todo = [r for r in read_batch_input(self.input_path) if r.id not in done]

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        return batch  # text records: the pipeline places its own tensors

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(RecordDataset(self.todo), batch_size=self.batch_size, shuffle=False,
                          collate_fn=_as_list)


def error_line(rid: str, exc: BaseException) -> dict[str, Any]:
    """The output line of a record the pipeline could not produce a result for."""
    kind = error_type(exc)
    return {"id": rid, "error": {"type": kind, "message": str(exc) or kind}}


class PipelinePredictor(L.LightningModule):
    """Runs the redheart pipeline of ``config`` over each batch of records.

    The pipeline lives on an event loop in a thread of its own, from ``on_predict_start`` to
    ``on_predict_end``: its background tasks keep running between batches, and a batch can be
    started from code that is itself inside an event loop (a notebook, an async test).
    ``predict_step`` submits the whole batch at once and returns one output line per record,
    in order.
    """

    def __init__(self, config: DictConfig):
        super().__init__()
        self.config = config
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._pipe: Any = None

    def pipeline_config(self) -> DictConfig:
        """The config, with the embedder and the memory manager on this rank's device."""
        cfg = self.config
        if self.device.type != "cpu":
            cfg = OmegaConf.merge(cfg, {"embedding": {"device": str(self.device)},
                                        "memory": {"device": str(self.device)}})
        return cfg

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def on_predict_start(self) -> None:
        from ..pipeline import Pipeline

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="redheart-batch-loop",
                                        daemon=True)
        self._thread.start()
        self._stack = contextlib.AsyncExitStack()
        self._pipe = self._run(self._stack.enter_async_context(
            Pipeline.from_config(self.pipeline_config())))

    def on_predict_end(self) -> None:
        self._close()

    def teardown(self, stage: str) -> None:
        self._close()

    def _close(self) -> None:
        if self._loop is None:
            return
        loop, stack, thread = self._loop, self._stack, self._thread
        try:
            self._run(stack.aclose())
        finally:
            self._loop = self._thread = self._stack = self._pipe = None
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()

    async def _analyze_all(self, batch: Sequence[BatchRecord]) -> list[dict[str, Any]]:
        """One batch call, so the batch's texts are read ahead: a stage failure is in its
        record's result, a full queue in its record's error line."""
        outcomes = await self._pipe.analyze_each([r.text for r in batch],
                                                 request_ids=[r.id for r in batch])
        return [error_line(r.id, outcome) if isinstance(outcome, Exception)
                else {"id": r.id, "result": outcome.to_dict()} for r, outcome in zip(batch, outcomes)]

    def predict_step(self, batch: list[BatchRecord], batch_idx: int) -> list[dict[str, Any]]:
        return self._run(self._analyze_all(batch))


class JsonlPredictionWriter(BasePredictionWriter):
    """Per rank: append each output line to the results file as soon as its batch is done."""

    def __init__(self, results: ResultsFile):
        super().__init__(write_interval="batch")
        self.results = results
        self._writer: RecordWriter | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._writer = self.results.open_for_rank(trainer.global_rank, trainer.world_size)

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch,
                           batch_idx, dataloader_idx) -> None:
        for line in prediction:
            try:
                self._writer.write(line)
            except ValueError as exc:  # a non-finite number has no JSON form
                self._writer.write(error_line(line["id"], exc))

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._writer.close()
        trainer.strategy.barrier("redheart-batch-written")
        if trainer.is_global_zero:
            self.results.consolidate()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self._writer is not None:
            self._writer.close()


@dataclass
class BatchRun:
    """What one ``run_batch`` call did: input ids, ids already answered before it started,
    ids answered now. Only global rank 0 sees the merged file; ``is_global_zero`` says so."""

    inputs: int
    skipped: int
    answered: int
    is_global_zero: bool

    @property
    def written(self) -> int:
        return self.answered - self.skipped


def run_batch(config: DictConfig, input_path: str | Path, out_path: str | Path, *,
              accelerator: str = "cpu", devices: int | str = 1, num_nodes: int = 1,
              strategy: str = "auto", batch_size: int | None = None,
              progress: bool = True) -> BatchRun:
    """Analyze every record of ``input_path`` not yet in ``out_path`` and append the answers."""
    L.seed_everything(int(config.seed), workers=True, verbose=False)
    records = read_batch_input(input_path)
    results = ResultsFile(out_path)
    ids = {r.id for r in records}
    skipped = len(results.done_ids() & ids)
    if skipped == len(records):
        return BatchRun(len(records), skipped, skipped, True)
    callbacks: list[L.Callback] = [JsonlPredictionWriter(results)]
    if progress:  # counted in texts, on stderr (Lightning's bar counts batches on stdout)
        from .progress import TextProgress

        callbacks.append(TextProgress())
    trainer = make_trainer(progress=False, callbacks=callbacks,
                           accelerator=accelerator, devices=devices, num_nodes=num_nodes,
                           strategy=strategy, enable_checkpointing=False)
    data = BatchDataModule(input_path, results, batch_size or int(config.pipeline.batch_size))
    trainer.predict(PipelinePredictor(config), datamodule=data, return_predictions=False)
    return BatchRun(len(records), skipped, len(results.done_ids() & ids), trainer.is_global_zero)
