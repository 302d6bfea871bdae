"""Tests for halo_core.testing.tiny_llama (the tiny Llama builder) and halo_core.models
(resolve_model; SmolLM2 prep is marked slow)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from halo_core.models import default_cache_dir, prepare_smollm2, resolve_model
from halo_core.testing.tiny_llama import build_tiny_llama

PARAGRAPH = (
    "We ordered the large blue backpack for our daughter before the school trip, and it arrived"
    " two days later in a sturdy box. The fabric feels strong, the zippers run smoothly and "
    "there are enough pockets for a water bottle, a lunch box, a jacket and a few books. After "
    "a month of daily use it still looks new. My only complaint is that the straps are a little"
    " thin, so it can hurt your shoulders when it is full, especially on long walks in the "
    "city. Please summarize this review in one sentence and tell me whether the customer would "
    "buy the product again, and why they might not."
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "model")


def test_build_is_complete_and_idempotent(tiny: Path) -> None:
    for name in ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json"):
        assert (tiny / name).is_file(), name
    config = json.loads((tiny / "config.json").read_text())
    assert config["hidden_size"] == 256 and config["num_hidden_layers"] == 2
    assert (
        json.loads((tiny / "generation_config.json").read_text())["eos_token_id"]
        == (config["eos_token_id"])
    )
    mtime = (tiny / "model.safetensors").stat().st_mtime_ns
    start = time.perf_counter()
    assert build_tiny_llama(tiny) == tiny
    assert time.perf_counter() - start < 0.5
    assert (tiny / "model.safetensors").stat().st_mtime_ns == mtime
    assert not [p for p in tiny.parent.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_chat_template_and_token_density(tiny: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny)
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": "Let me check."},
        {"role": "tool", "content": '{"temperature": 21}'},
    ]
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert isinstance(text, str)
    for role in ("<|system|>", "<|user|>", "<|assistant|>", "<|tool|>"):
        assert role in text
    assert text.startswith(tok.bos_token)
    assert text.endswith("<|assistant|>\n")
    assert "What is the weather in Paris?" in text
    short = tok.apply_chat_template(messages[:2], tokenize=False)
    assert isinstance(short, str) and not short.endswith("<|assistant|>\n")
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert ids[0] == tok.bos_token_id  # role markers are single special tokens
    assert tok.convert_tokens_to_ids("<|tool|>") in ids

    assert 550 <= len(PARAGRAPH) <= 650
    n = len(tok(PARAGRAPH, add_special_tokens=False)["input_ids"])
    assert n < 250, n
    assert tok.decode(tok(PARAGRAPH, add_special_tokens=False)["input_ids"]) == PARAGRAPH


def test_same_seed_same_weights(tiny: Path, tmp_path: Path) -> None:
    again = build_tiny_llama(tmp_path / "again")
    for name in ("model.safetensors", "tokenizer.json"):
        assert _sha256(again / name) == _sha256(tiny / name), name


def test_rebuilds_on_other_parameters(tmp_path: Path) -> None:
    path = build_tiny_llama(tmp_path / "m", hidden_size=128, num_layers=1, seed=1)
    first = _sha256(path / "model.safetensors")
    build_tiny_llama(path, hidden_size=128, num_layers=1, seed=2)
    assert _sha256(path / "model.safetensors") != first
    assert json.loads((path / "config.json").read_text())["hidden_size"] == 128


def test_a_scripted_build_greedily_writes_its_script_after_any_prompt(tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    script = ("[", 'calculator(expression="6*7"),', "lookup(id=3)", "]")
    path = build_tiny_llama(tmp_path / "scripted", hidden_size=64, num_layers=1, script=script)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    chats = [
        [{"role": "user", "content": "What is six times seven?"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    ]
    for chat in chats:
        text = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        ids = tok(text, add_special_tokens=False, return_tensors="pt").input_ids
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=12, do_sample=False)[0, ids.shape[1] :]
        assert out[-1] == tok.eos_token_id and len(out) == len(script) + 1
        assert tok.decode(out, skip_special_tokens=True) == "".join(script)
    with pytest.raises(ValueError, match="distinct"):
        build_tiny_llama(tmp_path / "loop", script=("a", "a"))
    with pytest.raises(ValueError, match="whitespace"):
        build_tiny_llama(tmp_path / "spaced", script=("a b",))


def test_build_refuses_foreign_dir(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        build_tiny_llama(tmp_path)
    with pytest.raises(ValueError):
        build_tiny_llama(tmp_path / "x", hidden_size=100)


def test_resolve_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALO_CACHE_DIR", str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache"
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    assert resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct") == (
        "HuggingFaceTB/SmolLM2-135M-Instruct"
    )
    tiny = Path(resolve_model("tiny"))
    assert tiny == tmp_path / "cache" / "models" / "tiny-llama"
    assert (tiny / "config.json").is_file()


@pytest.mark.slow
def test_prepare_smollm2(tmp_path: Path) -> None:
    pytest.importorskip("gguf")
    from transformers import AutoTokenizer

    lines: list[str] = []
    path = prepare_smollm2(tmp_path / "smollm2", log=lines.append)
    assert "Preparing" in lines[0]
    tok = AutoTokenizer.from_pretrained(path)
    assert "<|im_start|>" in tok.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    assert json.loads((path / "generation_config.json").read_text())["eos_token_id"] in (eos, [eos])
    assert prepare_smollm2(path, log=lines.append) == path
    assert "Using" in lines[-1]
