"""The LoRA forecaster: training pairs from the chain's prompts, answer-only loss, adapters in the backends.

Fast tests train a tiny random Llama (tests/tiny_models.py) for a few steps; the
leakage and prompt-identity tests use the real PASTRY slice and MiniLM index;
one slow test trains real SmolLM2 for two steps and serves the adapter in-process.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from agent.data.dataset import Dataset
from agent.forecast.context import ContextBuilder
from agent.training.llm_examples import KINDS, answer_text, balanced_sample, build_pairs
from agent.forecast.prompting import render
from agent.forecast.serialize import continuation_regex, deserialize
from agent.training.windows import WindowSpec, build_windows
from agent.llm.base import GenerationRequest
from agent.llm.embedded import EmbeddedBackend
from finetune.llm.artifact import (MERGED, AdapterConfig, AdapterMissing, list_adapters, new_adapter_id, read_config,
                                   resolve_adapter, save_adapter)
from finetune.llm.data import IGNORE, TextPair, batch_order, collate, encode, encode_all
from finetune.llm.train import LoraTrainConfig, add_lora, answer_loss, evaluate_loss, fit, load_base
from real_data import pastry_index, pastry_slice
from tiny_models import make_tiny_llama

AS_OF = date(2017, 10, 2)  # the evaluation's first cutoff: what the leaderboard adapter is trained with
SPEC = WindowSpec.for_llm(max_products=24, train_per_product=2, val_per_product=1, seed=5, as_of=AS_OF)


def sequence_pairs(n: int, seed: int) -> list[TextPair]:
    """Rising sequences: an easy rule a tiny model can start to learn in a few steps."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n):
        start, step = int(rng.integers(1, 50)), int(rng.integers(1, 5))
        values = [start + i * step for i in range(8)]
        pairs.append(TextPair(prompt="Sales history: " + ", ".join(map(str, values[:6])) + ", \nNext 2 weeks: ",
                              answer=", ".join(map(str, values[6:])) + ", ", kind="zero_shot"))
    return pairs


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def tiny_trained(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    torch.set_num_threads(1)
    model, tokenizer = load_base(tiny_dir)
    config = LoraTrainConfig(steps=30, batch_size=4, lr=2e-2, rank=4, alpha=8, targets="all", eval_every=10, seed=0)
    model = add_lora(model, config)
    train, _ = encode_all(tokenizer, sequence_pairs(48, 1), tokenizer.eos_token_id, 256)
    val, _ = encode_all(tokenizer, sequence_pairs(12, 2), tokenizer.eos_token_id, 256)
    result = fit(model, train, val, config, tokenizer.pad_token_id)
    return result, tokenizer, config


# --------------------------------------------------------------------------- encoding


def test_labels_mask_the_prompt_and_end_with_eos(tiny_dir: Path) -> None:
    _, tokenizer = load_base(tiny_dir)
    pair = TextPair(prompt="Sales history: 1, 2, 3, \nNext 2 weeks: ", answer="4, 5, ")
    encoded = encode(tokenizer, pair, tokenizer.eos_token_id)
    prompt_ids = tokenizer(pair.prompt)["input_ids"]
    answer_ids = tokenizer(pair.answer, add_special_tokens=False)["input_ids"]
    # Split where inference splits: the prompt's own tokens, then the answer's, then EOS.
    assert encoded.input_ids == prompt_ids + answer_ids + [tokenizer.eos_token_id]
    assert encoded.labels[:len(prompt_ids)] == [IGNORE] * len(prompt_ids)
    assert encoded.labels[len(prompt_ids):] == answer_ids + [tokenizer.eos_token_id]
    assert encoded.answer_tokens == len(answer_ids) + 1
    batch = collate([encoded, encode(tokenizer, TextPair("x: ", "1, "), tokenizer.eos_token_id)], pad_id=2)
    assert batch.input_ids.shape == batch.labels.shape == batch.attention_mask.shape
    assert (batch.labels[1, batch.attention_mask[1] == 0] == IGNORE).all()  # padding carries no loss
    long_pair = TextPair(prompt="a" * 300, answer="1, ")
    kept, dropped = encode_all(tokenizer, [pair, long_pair], tokenizer.eos_token_id, max_length=100)
    assert len(kept) == 1 and dropped == 1  # dropped, never truncated
    with pytest.raises(ValueError, match="empty answer"):
        encode(tokenizer, TextPair("x: ", ""), tokenizer.eos_token_id)


def test_loss_ignores_the_prompt(tiny_dir: Path) -> None:
    """Changing the answer changes the loss; the loss equals cross-entropy over the answer tokens alone."""
    model, tokenizer = load_base(tiny_dir)
    model = add_lora(model, LoraTrainConfig())
    encoded = encode(tokenizer, TextPair("Sales history: 1, 2, \nNext 1 weeks: ", "3, "), tokenizer.eos_token_id)
    batch = collate([encoded], pad_id=2)
    with torch.no_grad():
        ours = answer_loss(model, batch)
        reference = model(input_ids=batch.input_ids, labels=batch.labels).loss  # transformers' shifted CE with -100
    assert torch.allclose(ours, reference, atol=1e-5)


def test_batches_hold_one_kind_and_repeat_with_the_seed(tiny_dir: Path) -> None:
    _, tokenizer = load_base(tiny_dir)
    pairs = sequence_pairs(10, 0) + [TextPair("Product: a\nFirst 2 weeks: ", "1, 2, ", kind="new_product")] * 5
    rows, _ = encode_all(tokenizer, pairs, tokenizer.eos_token_id, 512)
    order = batch_order(rows, 4, seed=0, epoch=1)
    assert sorted(i for batch in order for i in batch) == list(range(15))
    assert all(len({rows[i].kind for i in batch}) == 1 for batch in order)
    assert order == batch_order(rows, 4, seed=0, epoch=1) and order != batch_order(rows, 4, seed=0, epoch=2)


# --------------------------------------------------------------------------- training


def test_a_few_steps_lower_the_validation_loss(tiny_trained) -> None:
    result, _, config = tiny_trained
    first, best = result.curves[0], min(result.curves, key=lambda p: p.val_loss)
    assert [p.step for p in result.curves] == [0, 10, 20, 30]
    assert best.val_loss < 0.9 * first.val_loss, [p.val_loss for p in result.curves]
    assert result.best_step == best.step > 0
    assert all(p.train_loss is not None for p in result.curves[1:])


def test_adapter_saves_loads_and_changes_the_embedded_output(tiny_trained, tiny_dir: Path, tmp_path: Path) -> None:
    result, tokenizer, config = tiny_trained
    adapter = AdapterConfig(adapter_id=new_adapter_id(config), created=pd.Timestamp.now(tz="UTC").to_pydatetime(),
                            base_model=tiny_dir.name, training=config, best_step=result.best_step,
                            train_seconds=result.seconds, threads=1, trainable_parameters=1, data={"as_of": "2017-10-02"},
                            losses={"validation, tuned": result.curves[-1].val_loss})
    lora_before = {k: v.clone() for k, v in result.model.state_dict().items() if "lora_" in k}
    path = save_adapter(tmp_path, result.model, tokenizer, adapter, result.curves, merge=True)
    # Writing the merged weights leaves the caller's peft model as it was (it merged the module in place once).
    lora_after = {k: v for k, v in result.model.state_dict().items() if "lora_" in k}
    assert lora_before and lora_after.keys() == lora_before.keys()
    assert all(torch.equal(lora_before[k], lora_after[k]) for k in lora_before)
    assert {"adapter_model.safetensors", "adapter_config.json", "config.json", "curves.csv", "README.md"} <= {
        p.name for p in path.iterdir()}
    assert read_config(path).merged and "Validation curve" in (path / "README.md").read_text()
    assert pd.read_csv(path / "curves.csv")["step"].tolist() == [p.step for p in result.curves]
    assert list_adapters(tmp_path)[0][0] == path == resolve_adapter(tmp_path, "latest") == resolve_adapter(tmp_path, path.name)
    with pytest.raises(AdapterMissing, match="finetune llm"):
        resolve_adapter(tmp_path / "empty", "latest")

    prompt = sequence_pairs(1, 7)[0].prompt
    greedy = GenerationRequest(prompt=prompt, n=1, max_tokens=6, temperature=0.0, regex=continuation_regex(2))
    base = EmbeddedBackend(tiny_dir)
    tuned = EmbeddedBackend(tiny_dir, adapter_dir=path)
    merged = EmbeddedBackend(path / MERGED)  # the merged folder loads as an ordinary model
    assert tuned.model_id == f"{tiny_dir.name}+lora:{path.name}" and base.model_id == tiny_dir.name
    ids = torch.tensor([tokenizer(prompt)["input_ids"]])
    with torch.no_grad():
        logits = {name: backend.model(ids).logits[0, -1] for name, backend in
                  (("base", base), ("tuned", tuned), ("merged", merged))}
    assert not torch.allclose(logits["base"], logits["tuned"], atol=1e-3)
    assert torch.allclose(logits["tuned"], logits["merged"], atol=0.05)  # merged/ is saved in bf16
    answers = {name: b.generate(greedy) for name, b in (("base", base), ("tuned", tuned))}
    assert answers["tuned"].model == tuned.model_id
    assert answers["base"].texts != answers["tuned"].texts, answers


# --------------------------------------------------------------------------- pairs from real data


@pytest.fixture(scope="module")
def pastry_pairs():
    data = pastry_slice()
    split = build_windows(data, SPEC)
    return data, split, build_pairs(data, split, pastry_index())


def test_pairs_are_the_chains_own_prompts(pastry_pairs) -> None:
    """Each prompt is what the chain renders at that cutoff; each answer is the truth in the prompt's scale."""
    data, split, pairs = pastry_pairs
    chain_builder = ContextBuilder(data, pastry_index())  # full data, as the chain has it at forecast time
    counts = pairs.counts()
    assert all(counts["train"][kind] > 0 for kind in KINDS), counts
    for kind in KINDS:
        pair = next(p for p in pairs.train if p.kind == kind)
        cutoff = pd.Timestamp(pair.cutoff)
        if kind == "new_product":
            context = chain_builder.for_catalog_launch(pair.unique_id, 4, cutoff)
        else:
            context = chain_builder.for_product(pair.unique_id, 4, cutoff, with_analogs=True)
        rendered = render(context, kind)
        assert pair.prompt == rendered.text and pair.scale == rendered.scale
        truth = data.history(pair.unique_id)
        target = truth[(truth.index >= cutoff)].iloc[:4].to_numpy()
        assert pair.answer == answer_text(target, rendered.scale)
        assert pair.answer.endswith(", ") and len(deserialize(pair.answer, pair.scale)) == 4
        assert __import__("re").fullmatch(rendered.regex, pair.answer)  # what the sampler may write


def test_no_pair_reaches_past_its_cutoff(pastry_pairs) -> None:
    """Targets end before each region's boundary, and nothing at or after as_of changes any pair."""
    data, split, pairs = pastry_pairs
    week = pd.Timedelta(weeks=1)
    ends = {region: [pd.Timestamp(p.cutoff) + 4 * week for p in getattr(pairs, region)] for region in ("train", "val", "test")}
    assert max(ends["train"]) <= split.val_start
    assert min(pd.Timestamp(p.cutoff) for p in pairs.val) >= split.val_start and max(ends["val"]) <= split.test_start
    assert max(ends["test"]) <= split.as_of == pd.Timestamp(AS_OF)
    # Poison everything from as_of on: if any prompt or answer saw those weeks, it would change.
    later = data.sales["ds"] >= pd.Timestamp(AS_OF)
    poisoned = data.sales.assign(y=np.where(later, data.sales["y"] * 1000 + 7, data.sales["y"]))
    other = Dataset(name=data.name, sales=poisoned, catalog=data.catalog, freq=data.freq)
    again = build_pairs(other, build_windows(other, SPEC), pastry_index())
    for region in ("train", "val", "test"):
        assert getattr(again, region) == getattr(pairs, region), region


def test_balanced_sample_is_even_and_repeatable(pastry_pairs) -> None:
    _, _, pairs = pastry_pairs
    sample = balanced_sample(pairs.train, 9, seed=0)
    assert [sum(p.kind == k for p in sample) for k in KINDS] == [3, 3, 3]
    assert sample == balanced_sample(pairs.train, 9, seed=0) and sample != balanced_sample(pairs.train, 9, seed=1)


# --------------------------------------------------------------------------- real weights


@pytest.mark.slow
def test_real_smollm2_adapter_trains_and_answers_in_process(pastry_pairs, tmp_path: Path) -> None:
    """Two steps on real zero-shot pairs with the real SmolLM2; the adapter then answers the chain's prompt, and
    `auto` serves a launch with it where a routing table names the tuned path."""
    from agent.forecast.chain import ChainSettings, ForecastChain
    from agent.forecast.routing import RoutingTable, Rule, segment_of
    from agent.models.smollm2 import prepare_smollm2
    from agent.pipeline import TunedOnDemand

    data, _, pairs = pastry_pairs
    base_dir = prepare_smollm2()
    model, tokenizer = load_base(base_dir)
    config = LoraTrainConfig(steps=2, batch_size=1, lr=1e-2, eval_every=2, seed=0)
    model = add_lora(model, config)
    zero = [TextPair(p.prompt, p.answer, p.kind) for p in pairs.train if p.kind == "zero_shot"][:3]
    train, _ = encode_all(tokenizer, zero[:2], tokenizer.eos_token_id, 1024)
    val, _ = encode_all(tokenizer, zero[2:], tokenizer.eos_token_id, 1024)
    before = evaluate_loss(model, train, tokenizer.eos_token_id)
    result = fit(model, train, val, config, tokenizer.eos_token_id)
    assert evaluate_loss(result.model, train, tokenizer.eos_token_id) < before  # it learned what it saw
    adapter = AdapterConfig(adapter_id="real-test", created=pd.Timestamp.now(tz="UTC").to_pydatetime(),
                            base_model=base_dir.name, training=config, best_step=result.best_step,
                            train_seconds=result.seconds, threads=1, trainable_parameters=1,
                            data={"as_of": str(AS_OF)}, losses={})
    path = save_adapter(tmp_path, result.model, tokenizer, adapter, result.curves)
    tuned = EmbeddedBackend(base_dir, adapter_dir=path)
    request = GenerationRequest(prompt=zero[0].prompt, n=4, max_tokens=24, temperature=0.7, seed=0,
                                regex=continuation_regex(4))
    generation = tuned.generate(request)
    assert generation.model == f"{base_dir.name}+lora:real-test"
    assert generation.finish_reasons == ["stop"] * 4
    assert all(len(deserialize(text, 1.0)) == 4 for text in generation.texts)
    ids = torch.tensor([tokenizer(zero[0].prompt)["input_ids"]])
    base = EmbeddedBackend(base_dir)
    with torch.no_grad():
        assert not torch.allclose(base.model(ids).logits[0, -1], tuned.model(ids).logits[0, -1], atol=1e-3)
    launches = Rule(segment=segment_of([], data.freq), weights={"llm-lora-new-product": 1.0}, metric="wape",
                    score=0.5, n_series=200)
    routing = RoutingTable(dataset=data.name, fingerprint="x", source="test", metric="wape", rules=[launches])
    chain = ForecastChain(ContextBuilder(data, pastry_index()), base, settings=ChainSettings(samples=4),
                          routing=routing, tuned=TunedOnDemand(loaded=(tuned, "embedded: test")))
    forecast = chain.forecast_new("Cinnamon raisin bagels 6 ct", 4, category="BAKED BREAD/BUNS/ROLLS")
    assert forecast.path == "llm-lora-new-product" and forecast.attempts[0].answered, forecast.fallback_reasons
    assert forecast.model_ids == [f"{base_dir.name}+lora:real-test"] and forecast.attempts[0].samples_valid >= 2
    assert forecast.attempts[0].reason == f"tuned weights: adapter real-test, trained on data before {AS_OF}"


@pytest.mark.slow
def test_training_run_prepares_trains_and_saves(pastry_pairs, tmp_path: Path) -> None:
    """agent.training.lora, what `shelfcast finetune llm` calls: pairs, one step on the real SmolLM2, the adapter."""
    from agent.training.lora import prepare_lora, train_lora

    data, split, _ = pastry_pairs
    config = LoraTrainConfig(steps=1, batch_size=1, lr=1e-3, eval_every=1, seed=0)
    prepared = prepare_lora(data, split, config, max_examples=2, val_pairs=1)
    assert {region: len(rows) for region, rows in prepared.encoded.items()} == {"train": 2, "val": 1, "test": 1}
    assert prepared.trainable > 0 and np.isfinite(prepared.base_test_loss)
    run = train_lora(prepared, config, tmp_path, threads=1, merge=False, reporter=None)
    (path, saved), = list_adapters(tmp_path)
    assert path == run.path and saved.best_step == run.best_step and saved.losses == run.losses
    assert run.losses["test, base"] == pytest.approx(prepared.base_test_loss)
    assert saved.data["train pairs"] == {kind: sum(e.kind == kind for e in prepared.encoded["train"]) for kind in KINDS}


# --------------------------------------------------------------------------- evaluation rows


class ConstantLLM:
    """An LLMBackend that always writes the same scaled values: which one answered shows in the forecasts."""

    name = "stub"

    def __init__(self, model_id: str, value: int):
        self.model_id, self.value = model_id, value

    def healthy(self) -> bool:
        return True

    def generate(self, request: GenerationRequest):
        from agent.llm.base import Generation

        text = f"{self.value}, " * 4
        return Generation(texts=[text] * request.n, finish_reasons=["stop"] * request.n, backend=self.name,
                          model=self.model_id)


def test_harness_asks_the_tuned_backend_for_lora_rows(tmp_path: Path) -> None:
    from eval.harness import EvalConfig, Harness, resolve_models
    from test_eval import WordRetriever, make_dataset

    assert resolve_models(["lora"]) == ["llm-lora-zero-shot", "llm-lora-few-shot"]
    assert "llm-lora-zero-shot" not in resolve_models(["all"])  # needs a trained adapter: its own group
    data = make_dataset()
    config = EvalConfig(task="existing", models=["llm-zero-shot", "llm-lora-zero-shot"], max_series=4, n_boot=100)

    def harness(adapter: str) -> Harness:
        return Harness(data, tmp_path, index=WordRetriever(data.catalog), progress=False,
                       backend=ConstantLLM("base", 50), lora_backend=ConstantLLM(f"base+lora:{adapter}", 90))

    first = harness("a1").run(config).tasks["existing"]
    base, tuned = first.runs["llm-zero-shot"], first.runs["llm-lora-zero-shot"]
    assert set(base.diag["model_ids"]) == {"base"} and set(tuned.diag["model_ids"]) == {"base+lora:a1"}
    assert (first.frame["llm-lora-zero-shot"] > first.frame["llm-zero-shot"]).all()  # 90 vs 50 on the same scale
    again = harness("a1").run(config).tasks["existing"]
    assert again.runs["llm-lora-zero-shot"].meta["cached"] and again.runs["llm-zero-shot"].meta["cached"]
    other = harness("a2").run(config).tasks["existing"]  # another adapter: its rows are recomputed, the base's are not
    assert not other.runs["llm-lora-zero-shot"].meta["cached"] and other.runs["llm-zero-shot"].meta["cached"]


# --------------------------------------------------------------------------- vLLM


@pytest.mark.vllm
def test_vllm_serves_the_adapter_as_model_lora(vllm_venv, tiny_trained, tiny_dir: Path, tmp_path: Path) -> None:
    """A real vLLM server (CPU) with --enable-lora answers as `lora`, differently from the base, naming the adapter."""
    from agent.llm.http import HttpBackend
    from agent.llm.select import serving_problem
    from agent.llm.server import stop
    from conftest_vllm import start_test_server

    result, tokenizer, config = tiny_trained
    adapter = AdapterConfig(adapter_id="vllm-test", created=pd.Timestamp.now(tz="UTC").to_pydatetime(),
                            base_model=tiny_dir.name, training=config, best_step=result.best_step,
                            train_seconds=result.seconds, threads=1, trainable_parameters=1, data={}, losses={})
    path = save_adapter(tmp_path / "adapters", result.model, tokenizer, adapter, result.curves)
    run_dir = tmp_path / "run"
    state = start_test_server(vllm_venv, tiny_dir, run_dir, served_name="tiny", lora_dir=path, max_model_len=512)
    try:
        base, tuned = HttpBackend(state.url, model_id="tiny"), HttpBackend(state.url, model_id="lora")
        assert serving_problem(tuned, "lora") is None and tuned.model_id == "lora:vllm-test"
        greedy = GenerationRequest(prompt=sequence_pairs(1, 7)[0].prompt, n=1, max_tokens=8, temperature=0.0)
        answers = {name: backend.generate(greedy) for name, backend in (("base", base), ("tuned", tuned))}
        assert answers["tuned"].model == "lora:vllm-test" and answers["base"].model == "tiny"
        assert answers["tuned"].texts != answers["base"].texts, answers
        local = EmbeddedBackend(tiny_dir, adapter_dir=path).generate(greedy)  # the same weights in-process
        assert local.texts == answers["tuned"].texts
    finally:
        stop(run_dir)


def test_choosing_the_tuned_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_trained, tiny_dir: Path) -> None:
    """--model lora: a clear error without an adapter; with one, the embedded backend that carries it. A route to a
    tuned path (TunedOnDemand) takes the same choice, and only an adapter that records its as-of date answers."""
    from agent.config import get_settings
    from agent.llm import select
    from agent.pipeline import TunedOnDemand, load_backend

    monkeypatch.setenv("SHELFCAST_HOME", str(tmp_path))
    monkeypatch.delenv("SHELFCAST_LLM_URL", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(ValueError, match="unknown LLM model"):
            load_backend("embedded", model="tuned")  # type: ignore[arg-type]
        with pytest.raises(AdapterMissing, match="shelfcast finetune llm"):
            load_backend("embedded", model="lora")
        with pytest.raises(select.TunedUnavailable, match="no LoRA adapter under"):
            TunedOnDemand("embedded").load()
        result, tokenizer, config = tiny_trained
        adapter = AdapterConfig(adapter_id="pick-me", created=pd.Timestamp.now(tz="UTC").to_pydatetime(),
                                base_model=tiny_dir.name, training=config, best_step=result.best_step,
                                train_seconds=result.seconds, threads=1, trainable_parameters=1, data={}, losses={})
        path = save_adapter(tmp_path / "models" / "llm-lora", result.model, tokenizer, adapter, result.curves)
        tuned = EmbeddedBackend(tiny_dir, adapter_dir=path)
        monkeypatch.setattr(select, "_embedded", {path: tuned})
        backend, note = load_backend("auto", model="lora")
        assert backend is tuned and "pick-me" in note and "SHELFCAST_LLM_URL is not set" in note
        with pytest.raises(select.TunedUnavailable, match="pick-me records no as-of date"):
            TunedOnDemand("auto").load()  # trained without a recorded as-of: its backtests cannot be shown leak-free
        dated = save_adapter(tmp_path / "models" / "llm-lora", result.model, tokenizer, adapter.model_copy(
            update={"adapter_id": "dated", "data": {"as_of": "2017-10-02"},
                    "created": adapter.created + pd.Timedelta(seconds=1)}), result.curves)  # the newest
        monkeypatch.setattr(select, "_embedded", {dated: EmbeddedBackend(tiny_dir, adapter_dir=dated)})
        loaded = TunedOnDemand("auto").load()  # the newest adapter
        assert loaded.backend.model_id.endswith("+lora:dated") and str(loaded.as_of) == "2017-10-02"
    finally:
        get_settings.cache_clear()


def test_cli_lists_adapters(tmp_path: Path, tiny_trained, tiny_dir: Path) -> None:
    from typer.testing import CliRunner

    from agent.cli import app

    runner = CliRunner()
    empty = runner.invoke(app, ["finetune", "llm-list", "--out", str(tmp_path)])
    assert empty.exit_code == 0 and "shelfcast finetune llm" in empty.output
    result, tokenizer, config = tiny_trained
    adapter = AdapterConfig(adapter_id="listed", created=pd.Timestamp.now(tz="UTC").to_pydatetime(),
                            base_model=tiny_dir.name, training=config, best_step=result.best_step,
                            train_seconds=result.seconds, threads=1, trainable_parameters=1, data={"as_of": "2017-10-02"},
                            losses={"validation, base": 2.5, "validation, tuned": 1.25})
    save_adapter(tmp_path, result.model, tokenizer, adapter, result.curves)
    listed = runner.invoke(app, ["finetune", "llm-list", "--out", str(tmp_path)], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "listed" in listed.output and "2.500 -> 1.250" in listed.output
    bad = runner.invoke(app, ["finetune", "llm", "--targets", "mlp", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "--targets must be qv or all" in bad.output
