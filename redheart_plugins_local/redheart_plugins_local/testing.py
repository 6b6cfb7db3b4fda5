"""Tiny random models for tests and benchmarks, saved the way real models are saved.

No chat or translation model can be downloaded in a test, so these build one from a config
with a tokenizer trained on a few sentences; the plugin then loads it through exactly the code
that loads a user's model (``from_pretrained`` with ``local_files_only``).
"""

from __future__ import annotations

import json
from pathlib import Path

CORPUS = [
    "My friend asked me to lie to cover for him at work.",
    "I am afraid my boss will find out and I will lose my job.",
    "The honest answer may hurt our friendship, but lying feels wrong.",
    '{"emotions": {"joy": 0.1, "trust": 0.5}, "scenarios": [], "ethics": ["honesty"]}',
    "optimistic neutral pessimistic action outcome ethical implications stakeholders regret",
]

KO_EN = [
    ("친구가 거짓말을 해 달라고 했다.", "My friend asked me to lie."),
    ("회사에서 걱정이 많다.", "I worry a lot at work."),
    ("정직하게 말하는 것이 옳다.", "Speaking honestly is right."),
    ("가족이 상처받을까 두렵다.", "I fear my family will be hurt."),
]


def build_tiny_llama(path: str | Path, *, hidden_size: int = 32, layers: int = 2, seed: int = 0,
                     byte_level: bool = False) -> Path:
    """A random Llama (no chat template: the backend's fallback template is used), saved with
    ``save_pretrained`` under ``path``.

    Its tokenizer is word-level, which cannot spell JSON it has not seen, or with
    ``byte_level`` a byte-level BPE (as GPT-2's, Llama 3's and SmolLM2's are), which can
    write any text and so any schema under constrained decoding.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = Path(path)
    specials = ["<unk>", "<s>", "</s>", "<pad>"]
    if byte_level:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.train_from_iterator(CORPUS, trainers.BpeTrainer(
            vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    else:
        tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        tok.train_from_iterator(CORPUS, trainers.WordLevelTrainer(special_tokens=specials))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>",
                                        eos_token="</s>", pad_token="<pad>")
    tokenizer.save_pretrained(path)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(path)
    return path


def build_tiny_marian(path: str | Path, *, seed: int = 0) -> Path:
    """A random ko->en MarianMT with sentencepiece models trained on a few sentence pairs,
    saved with ``save_pretrained`` under ``path``."""
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocab: dict[str, int] = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for side, texts in (("source", [k for k, _ in KO_EN]), ("target", [e for _, e in KO_EN])):
        corpus = path / f"{side}.txt"
        corpus.write_text("\n".join(texts * 20), encoding="utf-8")
        spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(path / side), vocab_size=60,
                                       model_type="unigram", character_coverage=1.0, hard_vocab_limit=False,
                                       bos_id=-1, eos_id=1, unk_id=2, pad_id=0, minloglevel=2)
        corpus.unlink()
        (path / f"{side}.vocab").unlink()
        processor = spm.SentencePieceProcessor(model_file=str(path / f"{side}.model"))
        for i in range(processor.get_piece_size()):
            vocab.setdefault(processor.id_to_piece(i), len(vocab))
        (path / f"{side}.model").rename(path / f"{side}.spm")
    (path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = MarianTokenizer(source_spm=str(path / "source.spm"), target_spm=str(path / "target.spm"),
                                vocab=str(path / "vocab.json"), source_lang="ko", target_lang="en")
    tokenizer.save_pretrained(path)
    torch.manual_seed(seed)
    config = MarianConfig(vocab_size=len(vocab), d_model=32, encoder_layers=1, decoder_layers=1,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                          decoder_ffn_dim=64, max_position_embeddings=128, pad_token_id=0,
                          eos_token_id=1, decoder_start_token_id=0, forced_eos_token_id=1)
    MarianMTModel(config).save_pretrained(path)
    return path
