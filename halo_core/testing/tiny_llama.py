"""A tiny random-weight Llama with a chat tokenizer, for tests and benchmarks.

A plain Hugging Face directory that vLLM loads without touching the hub; the tokenizer is trained
on ``tiny_corpus.txt`` (everyday English, so ordinary prompts encode at roughly one token per 3-5
characters). Heavy libraries are imported inside the functions.

A *scripted* build (``script="..."``) has weights set so that greedy decoding of any chat prompt
writes ``script`` and stops: the layers add nothing to the residual stream, and the embedding and
output head chain the prompt's last token (the newline after the assistant header) through the
script's tokens to end-of-text. A random model never writes a well-formed tool call; this one
does, on every turn, so tests can drive tool calls and handoffs through a real engine.
"""

from __future__ import annotations

import itertools
import json
import shutil
import tempfile
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from halo_core.model_cache import publish_dir

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

__all__ = ["build_tiny_llama"]

_TINY_MARKER = "halo_tiny_llama.json"
_TINY_FORMAT = 3  # bump when the build recipe changes, so cached builds are redone
_TINY_VOCAB = 4096
_HEAD_DIM = 64

_BOS, _EOS, _PAD = "<|begin_of_text|>", "<|end|>", "<|pad|>"
_ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>", "<|tool|>"]

# Renders the tool schemas (if any) first, then system/user/assistant/tool messages; content may
# be a string, a list of text parts or None (an assistant turn that only calls tools). Tool calls
# render without their ids (random per response, like real templates that leave them out).
_TINY_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% if tools %}{{ '<|system|>\n' + (tools | tojson) }}{{ eos_token }}\n{% endif %}"
    "{% for m in messages %}"
    "{{ '<|' + m['role'] + '|>\n' }}"
    "{% if m['content'] is string %}{{ m['content'] }}"
    "{% elif m['content'] %}{% for p in m['content'] %}"
    "{% if p['type'] == 'text' %}{{ p['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{% if m['tool_calls'] %}{% for c in m['tool_calls'] %}{{ c['function'] | tojson }}"
    "{% endfor %}{% endif %}"
    "{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


def _training_texts() -> list[str]:
    """The tokenizer's training texts: the corpus paragraphs, then the word list (the file's last
    paragraph). The last corpus paragraph keeps its newline, as the recipe always had it."""
    text = files("halo_core.testing").joinpath("tiny_corpus.txt").read_text(encoding="utf-8")
    corpus, words = text.rsplit("\n\n", 1)
    return [*f"{corpus}\n".split("\n\n"), words]


def _tiny_tokenizer() -> PreTrainedTokenizerFast:
    """Train the tiny byte-level BPE tokenizer on ``tiny_corpus.txt``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = [_BOS, _EOS, _PAD, *_ROLE_TOKENS]
    trainer = trainers.BpeTrainer(
        vocab_size=_TINY_VOCAB,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_training_texts(), trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{_BOS} $A",
        pair=f"{_BOS} $A $B:1",
        special_tokens=[(_BOS, tok.token_to_id(_BOS))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=_BOS,
        eos_token=_EOS,
        pad_token=_PAD,
        additional_special_tokens=_ROLE_TOKENS,
        chat_template=_TINY_CHAT_TEMPLATE,
        model_max_length=4096,
    )


def _script_chain(tokenizer: PreTrainedTokenizerFast, script: tuple[str, ...]) -> list[int]:
    """The token ids greedy decoding must walk: the generation prompt's last token, one token per
    piece of ``script`` (the vocabulary's own, else one added to ``tokenizer`` for it), then
    end-of-text. Pieces must be distinct: a chain through one token twice would loop."""
    if len(set(script)) != len(script) or not all(script):
        raise ValueError(f"script {script!r}: pieces must be distinct and non-empty")
    if any(c.isspace() for piece in script for c in piece):
        raise ValueError(f"script {script!r}: pieces must not hold whitespace (byte-level BPE)")
    vocab = {tokenizer.decode([i]): i for i in range(len(tokenizer))}
    tokenizer.add_tokens([piece for piece in script if piece not in vocab])
    pieces = [vocab.get(piece) or tokenizer.convert_tokens_to_ids(piece) for piece in script]
    prompt = [{"role": "user", "content": "hi"}]
    text = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
    trigger = tokenizer.encode(str(text), add_special_tokens=False)[-1]
    return [trigger, *pieces, tokenizer.eos_token_id]


def _script_weights(model: Any, chain: list[int]) -> None:
    """Set ``model``'s weights so greedy decoding from ``chain[0]`` walks ``chain``.

    Every layer's output projections are zeroed (the residual stream stays the token's
    embedding); chain step ``j`` gets basis vector ``j`` as its embedding, and the head scores
    the next step's token on dimension ``j`` far above any other token.
    """
    import torch

    steps = len(chain) - 1
    if steps > model.config.hidden_size:
        raise ValueError(f"a script of {steps - 1} pieces needs hidden_size >= {steps}")
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        embed, head = model.model.embed_tokens.weight, model.lm_head.weight
        embed[:, :steps] = 0
        head[:, :steps] = 0
        for j, (tok, nxt) in enumerate(itertools.pairwise(chain)):
            embed[tok] = 0
            embed[tok, j] = 1.0
            head[nxt, j] = 10.0


def build_tiny_llama(
    path: Path,
    *,
    hidden_size: int = 256,
    num_layers: int = 2,
    seed: int = 0,
    script: tuple[str, ...] | None = None,
) -> Path:
    """Build (once) a tiny random-weight Llama with a chat tokenizer at ``path``; return ``path``.

    Deterministic: the same arguments always give the same weights. ``hidden_size`` must be a
    multiple of 64 (heads of 64 dims). With ``script`` (distinct pieces, one token each: the
    vocabulary's, else one added to the tokenizer), greedy decoding of every chat prompt writes
    exactly their concatenation (see the module docstring). A build whose marker records the same
    parameters is reused as is; any other build at ``path`` made by this function is replaced.
    """
    if hidden_size <= 0 or hidden_size % _HEAD_DIM:
        raise ValueError(f"hidden_size={hidden_size}: use a positive multiple of {_HEAD_DIM}")
    if num_layers <= 0:
        raise ValueError(f"num_layers={num_layers}: must be positive")
    path = Path(path)
    params = {
        "format": _TINY_FORMAT,
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "seed": seed,
        **({"script": list(script)} if script is not None else {}),
    }
    marker = path / _TINY_MARKER

    def built() -> bool:
        return marker.is_file() and json.loads(marker.read_text()) == params

    if built():
        return path
    if path.exists() and any(path.iterdir()) and not marker.is_file():
        raise FileExistsError(f"{path} exists and is not a tiny-llama build; pick another path")

    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        tokenizer = _tiny_tokenizer()
        chain = _script_chain(tokenizer, script) if script is not None else None
        tokenizer.save_pretrained(tmp)
        bos, eos, pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
        config = LlamaConfig(
            hidden_size=hidden_size,
            intermediate_size=2 * hidden_size,
            num_hidden_layers=num_layers,
            num_attention_heads=hidden_size // _HEAD_DIM,
            num_key_value_heads=hidden_size // _HEAD_DIM,
            vocab_size=len(tokenizer),
            max_position_embeddings=4096,
            initializer_range=0.25,  # smaller values make the model repeat one token
            bos_token_id=bos,
            eos_token_id=eos,
            pad_token_id=pad,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = LlamaForCausalLM(config)
        if chain is not None:
            _script_weights(model, chain)
        model.generation_config = GenerationConfig(
            bos_token_id=bos, eos_token_id=eos, pad_token_id=pad
        )
        model.save_pretrained(tmp, safe_serialization=True)
        tmp.chmod(0o755)  # mkdtemp makes it private
        (tmp / _TINY_MARKER).write_text(json.dumps(params))
        if not built():  # else another process built the same model meanwhile
            if marker.is_file():  # an older build with other parameters
                shutil.rmtree(path)
            publish_dir(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path
