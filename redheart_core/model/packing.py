"""The encoder's forward on packed tokens: its matrix products read real tokens only.

Texts of a batch differ in length, and a padded batch runs every layer on its padding too: the
analyzers' texts, padded to a multiple of :data:`.encoder.PAD_TO` for batch-invariant bits,
cost about 1.8 times their real tokens. Here the tokens of all the batch's windows are packed
into one ``(tokens, hidden)`` matrix for the embeddings, the linear layers and the layer norms,
and spread out to the padded ``(windows, width)`` layout only inside the attention, which reads
each window with the same mask the padded forward uses. Where the padded forward computes
padding tokens' keys and values (which the mask then ignores), the packed one holds zeros.

A row's numbers do not depend on the other rows of a matrix product as long as it has at least
:data:`MIN_ROWS` rows (torch picks another kernel for very small products), so the packed token
count is padded up to a multiple of it; the packed forward then gives every real token exactly
the padded forward's bits. :class:`PackedForward` is traced (:mod:`.tracing`) and checked bit for
bit against the eager forward before it serves. It supports the BERT family that
sentence-transformers models build on (all-MiniLM-L6-v2 among them); other models keep the
padded forward.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from .tracing import Inputs, ModelTrace, quiet_trace, weights_key

if TYPE_CHECKING:
    import torch

log = logging.getLogger("redheart.model")

#: a packed matrix product has at least this many rows, a multiple of it (see the module doc)
MIN_ROWS = 16


def packable(model: "torch.nn.Module") -> bool:
    """Whether ``model`` is a BERT encoder whose layers this module knows how to run packed:
    absolute positions, bidirectional attention through torch's scaled dot-product attention."""
    config = getattr(model, "config", None)
    return (type(model).__name__ == "BertModel" and config is not None
            and not config.is_decoder
            and getattr(config, "position_embedding_type", "absolute") == "absolute"
            and getattr(config, "_attn_implementation", None) == "sdpa")


@dataclass(frozen=True)
class PackedBatch:
    """A batch of windows laid out for :class:`PackedForward`.

    ``ids`` and ``positions`` hold the real tokens one after another (then dummy tokens up to a
    multiple of :data:`MIN_ROWS`); ``slots`` gives each cell of the padded ``(windows, width)``
    grid its packed row (``len(ids)``, a zero row, for padding); ``rows`` gives each packed row
    its cell; ``grid`` is the padded attention mask.
    """

    ids: "torch.Tensor"
    positions: "torch.Tensor"
    slots: "torch.Tensor"
    rows: "torch.Tensor"
    grid: "torch.Tensor"
    lengths: tuple[int, ...]

    @classmethod
    def of(cls, windows: Sequence[Sequence[int]], pad_to: int, pad_id: int) -> "PackedBatch":
        import torch

        lengths = tuple(len(w) for w in windows)
        width = -(-max(lengths) // pad_to) * pad_to
        real = sum(lengths)
        packed = max(MIN_ROWS, -(-real // MIN_ROWS) * MIN_ROWS)
        ids = torch.full((packed,), pad_id, dtype=torch.long)
        ids[:real] = torch.tensor([i for w in windows for i in w], dtype=torch.long)
        positions = torch.zeros(packed, dtype=torch.long)
        positions[:real] = torch.cat([torch.arange(n) for n in lengths])
        grid = torch.arange(width).expand(len(lengths), width) < torch.tensor(lengths)[:, None]
        cells = torch.nonzero(grid.reshape(-1)).reshape(-1)  # row-major: the packing order
        slots = torch.full((len(lengths) * width,), packed, dtype=torch.long)
        slots[cells] = torch.arange(real)
        rows = torch.zeros(packed, dtype=torch.long)
        rows[:real] = cells
        return cls(ids, positions, slots, rows, grid, lengths)

    @property
    def tensors(self) -> tuple["torch.Tensor", ...]:
        return self.ids, self.positions, self.slots, self.rows, self.grid


class _PackedBert:
    """The packed forward of a ``BertModel`` (a module; made lazily so torch loads late)."""

    @staticmethod
    def module(bert: "torch.nn.Module") -> "torch.nn.Module":
        import torch

        heads = int(bert.config.num_attention_heads)

        class PackedBert(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.bert = bert

            def forward(self, ids: torch.Tensor, positions: torch.Tensor, slots: torch.Tensor,
                        rows: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
                embeddings = self.bert.embeddings
                hidden = embeddings.word_embeddings(ids) + embeddings.token_type_embeddings(torch.zeros_like(ids))
                hidden = embeddings.LayerNorm(hidden + embeddings.position_embeddings(positions))
                batch, width = grid.shape[0], grid.shape[1]
                mask = grid[:, None, None, :].expand(batch, 1, width, width).contiguous()
                zero = hidden.new_zeros(1, hidden.shape[1])

                def spread(x: torch.Tensor) -> torch.Tensor:
                    x = torch.index_select(torch.cat([x, zero]), 0, slots)
                    return x.view(batch, width, heads, -1).transpose(1, 2)

                for layer in self.bert.encoder.layer:
                    attention = layer.attention.self
                    out = torch.nn.functional.scaled_dot_product_attention(
                        spread(attention.query(hidden)), spread(attention.key(hidden)),
                        spread(attention.value(hidden)), attn_mask=mask, dropout_p=0.0,
                        scale=attention.scaling, is_causal=False)
                    out = torch.index_select(out.transpose(1, 2).reshape(batch * width, -1), 0, rows)
                    hidden = layer.attention.output(out, hidden)
                    hidden = layer.output(layer.intermediate(hidden), hidden)
                return hidden

        return PackedBert().eval()


def _windows_of(inputs: Inputs) -> list[list[int]]:
    """The real token ids of each row of a padded batch."""
    return [row[mask.bool()].tolist() for row, mask in zip(inputs["input_ids"], inputs["attention_mask"])]


def agrees(packed: "torch.Tensor", batch: PackedBatch, states: "torch.Tensor") -> bool:
    """Whether every real token of ``packed`` has exactly the bits of the padded ``states``."""
    import torch

    start = 0
    for row, n in enumerate(batch.lengths):
        if not torch.equal(packed[start:start + n], states[row, :n]):
            return False
        start += n
    return True


class PackedForward(ModelTrace):
    """The traced packed forward of a model; build it with :meth:`trace`."""

    def __init__(self, script: "torch.jit.ScriptModule", key: tuple[int, ...], pad_to: int,
                 pad_id: int):
        super().__init__(key)
        self._script = script
        self.pad_to = pad_to
        self.pad_id = pad_id

    @classmethod
    def trace(cls, model: "torch.nn.Module", examples: Sequence[tuple[Inputs, "torch.Tensor"]],
              pad_to: int, pad_id: int) -> "PackedForward | None":
        """The packed forward of ``model``, traced on the first of ``examples`` (padded batches
        and their eager states) and checked bit for bit on each; None when the model is not of
        the BERT family, cannot be traced, or disagrees."""
        if not packable(model):
            return None
        batches = [(PackedBatch.of(_windows_of(inputs), pad_to, pad_id), states)
                   for inputs, states in examples]
        script = quiet_trace(_PackedBert.module(model), batches[0][0].tensors)
        if script is None:
            return None
        packed = cls(script, weights_key(model), pad_to, pad_id)
        if not all(agrees(packed.run(batch), batch, states) for batch, states in batches):
            log.debug("the packed encoder disagrees with the padded one; it runs padded",
                      extra={"event": "pack_failed"})
            return None
        return packed

    def run(self, batch: PackedBatch) -> "torch.Tensor":
        """The packed token states ``(packed tokens, hidden)`` of ``batch``."""
        import torch

        with torch.inference_mode():
            return self._script(*batch.tensors)

    def states(self, windows: Sequence[Sequence[int]]) -> list["torch.Tensor"]:
        """Each window's token states ``(len(window), hidden)``."""
        batch = PackedBatch.of(windows, self.pad_to, self.pad_id)
        hidden = self.run(batch)
        out, start = [], 0
        for n in batch.lengths:
            out.append(hidden[start:start + n])
            start += n
        return out
