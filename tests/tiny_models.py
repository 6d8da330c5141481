"""A tiny random-weight Llama with a ChatML tokenizer, built at test time.

Unit tests of the embedded backend and the prompt plumbing need a model that has
the real one's shape of interface (Llama architecture, ChatML template, the same
special-token ids as SmolLM2) but loads and decodes in milliseconds and needs no
installed weights. Its output is noise; only real-weight tests judge quality.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

# Same ids as SmolLM2: 0 <|endoftext|>, 1 <|im_start|> (bos), 2 <|im_end|> (eos, pad).
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def make_tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level tokenizer without merges: every byte is a token, so any text round-trips."""
    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
    for char in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[char] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(list(SPECIAL_TOKENS))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token=SPECIAL_TOKENS[0],
                                        bos_token=SPECIAL_TOKENS[1], eos_token=SPECIAL_TOKENS[2],
                                        pad_token=SPECIAL_TOKENS[2], model_max_length=2048)
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def make_tiny_llama(directory: Path, seed: int = 0) -> Path:
    """Save a 2-layer random Llama (~90k parameters) and its tokenizer into `directory`.

    head_dim is 32, the smallest vLLM's CPU attention supports, so the same folder
    can also be served by vLLM in integration tests.
    """
    tokenizer = make_tiny_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                         head_dim=32, max_position_embeddings=2048, tie_word_embeddings=True,
                         bos_token_id=1, eos_token_id=2, pad_token_id=2)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return Path(directory)


def make_tiny_bert(directory: Path, seed: int = 0) -> Path:
    """Save a 2-layer random BERT encoder (hidden 32) with the byte-level tokenizer into `directory`.

    Stands in for MiniLM in the regression model's unit tests: same architecture
    family (AutoModel, mean pooling, `encoder.layer`, word embeddings), milliseconds per batch.
    """
    from transformers import BertConfig, BertModel

    tokenizer = make_tiny_tokenizer()
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=2, max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return Path(directory)
