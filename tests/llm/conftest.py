"""Tiny random models, built in the test session and saved the way users' models are saved,
so the local plugin loads them through its own loading code."""

from __future__ import annotations

from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    """A 2-layer Llama with a word-level tokenizer trained on a few sentences, saved to a dir."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-llama")
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(CORPUS, trainers.WordLevelTrainer(special_tokens=["<unk>", "<s>", "</s>", "<pad>"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>",
                                        eos_token="</s>", pad_token="<pad>")
    tokenizer.save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_marian(tmp_path_factory) -> Path:
    """A tiny random MarianMT ko->en model with sentencepiece models trained in the session."""
    import json

    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    path = tmp_path_factory.mktemp("tiny-marian")
    for side, texts in (("source", [k for k, _ in KO_EN] * 20), ("target", [e for _, e in KO_EN] * 20)):
        corpus = path / f"{side}.txt"
        corpus.write_text("\n".join(texts), encoding="utf-8")
        spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(path / side), vocab_size=60,
                                       model_type="unigram", character_coverage=1.0,
                                       hard_vocab_limit=False, bos_id=-1, eos_id=1, unk_id=2, pad_id=0,
                                       minloglevel=2)
        corpus.unlink()
        (path / f"{side}.vocab").unlink()
    vocab: dict[str, int] = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for side in ("source", "target"):
        processor = spm.SentencePieceProcessor(model_file=str(path / f"{side}.model"))
        for i in range(processor.get_piece_size()):
            vocab.setdefault(processor.id_to_piece(i), len(vocab))
    for side in ("source", "target"):
        (path / f"{side}.model").rename(path / f"{side}.spm")
    (path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = MarianTokenizer(source_spm=str(path / "source.spm"), target_spm=str(path / "target.spm"),
                                vocab=str(path / "vocab.json"), source_lang="ko", target_lang="en")
    tokenizer.save_pretrained(path)
    torch.manual_seed(0)
    config = MarianConfig(vocab_size=len(vocab), d_model=32, encoder_layers=1, decoder_layers=1,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                          decoder_ffn_dim=64, max_position_embeddings=128, pad_token_id=0,
                          eos_token_id=1, decoder_start_token_id=0, forced_eos_token_id=1)
    MarianMTModel(config).save_pretrained(path)
    return path
