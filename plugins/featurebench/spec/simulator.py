"""The simulator identity of every arm: spec section `simulator:` -> Dynamo mocker engine arguments.

One mapping serves both users of Dynamo's mocker core: the local platform's live `dynamo.mocker` workers (scaled
down, wall-clock) and the preflight's offline replay (full size, simulated time). Timing is AIConfigurator's
performance database for the arm's GPU system, backend, parallelism and quantization (`timing: aic`), or the
mocker's uncalibrated polynomial only when a spec asks for it (`timing: polynomial`); the report banner names it.

Parallelism comes from the arm's deployment (each worker pool's tp / ep / attention_dp), so it is stated once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from featurebench.settings import REPO_ROOT

MODELS_DIR = REPO_ROOT / "include" / "simulator-models"
AIC_PACKAGE = "aiconfigurator-core"
SYSTEM_NAMES = {"h200_sxm": "H200", "h100_sxm": "H100", "b200_sxm": "B200", "gb200": "GB200", "gb300": "GB300"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Quantization(_Strict):
    """AIConfigurator dtype overrides (None: what the model's config implies)."""

    gemm: str | None = None
    moe: str | None = None
    fmha: str | None = None
    kv_cache: str | None = None
    comm: str | None = None


class Speculative(_Strict):
    """Speculative decoding (Eagle3 / MTP) as the mocker samples it: `nextn` drafts per step, each accepted with
    the given probability (position k needs k-1 accepted before it)."""

    nextn: int = Field(gt=0, le=5)
    accept_rates: list[float] = Field(min_length=1)
    source: str = Field(min_length=1)  # where the acceptance rates come from

    @model_validator(mode="after")
    def _rates(self):
        if len(self.accept_rates) != self.nextn or not all(0 <= r <= 1 for r in self.accept_rates):
            raise ValueError(f"accept_rates needs {self.nextn} values in [0, 1], got {self.accept_rates}")
        return self


class SimArm(_Strict):
    speculative: Speculative | None = None
    not_modelled: list[str] = []  # features of this arm the simulator cannot model (vision encoder, ...)


class Simulator(_Strict):
    timing: Literal["aic", "polynomial"] = "aic"
    system: str = Field(pattern=r"^[a-z0-9_]+$")  # AIConfigurator system, e.g. h200_sxm, gb200
    backend: Literal["vllm", "trtllm", "sglang"] | None = None  # AIC database backend; default the deploy backend
    backend_version: str | None = None  # AIC database version; default the newest it ships
    model: str | None = None  # a model id AIConfigurator registers, e.g. Qwen/Qwen3-32B
    model_config_dir: str | None = Field(default=None, pattern=r"^[a-z0-9._-]+$")  # include/simulator-models/<dir>
    moe: bool = False  # mixture of experts: the workers' ep becomes AIC's MoE expert parallelism
    quantization: Quantization = Quantization()
    kv_bytes_per_token: int = Field(gt=0)  # KV transferred per prompt token (P/D handoff)
    kv_transfer_bandwidth_gbps: float | None = Field(default=None, ge=0)  # None: the mocker's default
    sources: dict[str, str]  # every assumption above -> where it comes from
    arms: dict[str, SimArm] = {}

    @model_validator(mode="after")
    def _identity(self):
        if (self.model is None) == (self.model_config_dir is None):
            raise ValueError("give exactly one of model (AIConfigurator-registered id) and model_config_dir")
        needed = {"model", "kv_bytes_per_token"} | ({"kv_transfer_bandwidth_gbps"}
                                                    if self.kv_transfer_bandwidth_gbps is not None else set())
        if missing := sorted(needed - set(self.sources)):
            raise ValueError(f"sources must say where {', '.join(missing)} come(s) from")
        return self

    def model_path(self) -> str:
        """What AIConfigurator loads: a registered id, or the project's config.json folder (nothing downloaded)."""
        if self.model is not None:
            return self.model
        path = MODELS_DIR / self.model_config_dir
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"simulator.model_config_dir {self.model_config_dir!r}: no {path}/config.json")
        return str(path)

    def arm(self, name: str) -> SimArm:
        return self.arms.get(name, SimArm())


# --------------------------------------------------------------------------------------------- the mapping


def _pool(arm, role: str):
    for worker in arm.deploy.workers:
        if worker.role == role:
            return worker
    raise ValueError(f"arm {arm.name}: no {role} worker pool in its deployment")


def parallelism(sim: Simulator, worker) -> dict[str, int]:
    """AIC's parallel shape of one worker: attention-DP ranks split the attention instead of TP; MoE experts
    spread over `ep`, the rest of the ranks being MoE tensor parallel (tp x attention_dp = moe_tp x moe_ep)."""
    tp, dp = (1, worker.tp) if worker.attention_dp else (worker.tp, 1)
    out = {"aic_tp_size": tp, "aic_attention_dp_size": dp}
    if sim.moe:
        ep = worker.ep
        if (tp * dp) % ep:
            raise ValueError(f"worker {worker.name}: tp x attention_dp = {tp * dp} is not a multiple of ep = {ep}")
        out |= {"aic_moe_ep_size": ep, "aic_moe_tp_size": tp * dp // ep}
    return out


def _flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None


def deploy_engine_facts(arm, role: str) -> dict[str, Any]:
    """The engine settings of a full-size pool that the mocker also models, read from the deployment itself:
    KV block size, prefix caching, batch limits and the KV memory fraction (vLLM flags or TRT-LLM engine_config)."""
    worker = _pool(arm, role)
    args, cfg = worker.args, worker.engine_config or {}
    kv = cfg.get("kv_cache_config") or {}
    out: dict[str, Any] = {}
    if arm.deploy.backend == "trtllm":
        out["block_size"] = int(kv.get("tokens_per_block", 32))
        out["enable_prefix_caching"] = bool(kv.get("enable_block_reuse", True))
        if "free_gpu_memory_fraction" in kv:
            out["free_gpu_memory_fraction"] = float(kv["free_gpu_memory_fraction"])
        for key in ("max_num_tokens", "max_batch_size"):
            if key in cfg:
                out["max_num_batched_tokens" if key == "max_num_tokens" else "max_num_seqs"] = int(cfg[key])
        return out
    out["block_size"] = int(_flag(args, "--block-size") or 64)
    out["enable_prefix_caching"] = "--no-enable-prefix-caching" not in args
    for flag, key, kind in (("--gpu-memory-utilization", "gpu_memory_utilization", float),
                            ("--max-num-seqs", "max_num_seqs", int),
                            ("--max-num-batched-tokens", "max_num_batched_tokens", int)):
        if (value := _flag(args, flag)) is not None:
            out[key] = kind(value)
    return out


def engine_type(backend: str, role: str) -> str:
    """The mocker scheduler core. TRT-LLM's core has no P/D split, so its disaggregated pools run the vLLM core
    (with TRT-LLM's timing database)."""
    return "vllm" if backend == "trtllm" and role != "agg" else backend


def engine_args(spec, arm_name: str, role: str, *, block_size: int | None = None,
                num_gpu_blocks: int | None = None, speedup_ratio: float = 1.0,
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The MockEngineArgs JSON of one worker pool of an arm (`--extra-engine-args` / offline replay).

    The JSON replaces the mocker's CLI engine flags, so block size, block count and speed-up go in it too.
    Without `simulator:` (or with `timing: polynomial`) the result has no AIC fields: the polynomial baseline.
    """
    arm = spec.arm(arm_name)
    worker = _pool(arm, role)
    backend = arm.deploy.backend
    out: dict[str, Any] = {"engine_type": engine_type(backend, role), "speedup_ratio": speedup_ratio}
    if role != "agg":
        out["is_prefill" if role == "prefill" else "is_decode"] = True
    if block_size:
        out["block_size"] = block_size
    if num_gpu_blocks:
        out["num_gpu_blocks"] = num_gpu_blocks
    sim = spec.simulator
    if sim is not None:
        out["kv_bytes_per_token"] = sim.kv_bytes_per_token
        if sim.kv_transfer_bandwidth_gbps is not None:
            out["kv_transfer_bandwidth"] = sim.kv_transfer_bandwidth_gbps
    if sim is not None and sim.timing == "aic":
        out |= {"aic_backend": sim.backend or backend, "aic_system": sim.system, "aic_model_path": sim.model_path(),
                **parallelism(sim, worker)}
        if sim.backend_version:
            out["aic_backend_version"] = sim.backend_version
        out |= {f"aic_{k}_dtype": v for k, v in sim.quantization.model_dump().items() if v}
        spec_dec = sim.arm(arm_name).speculative
        if spec_dec and role != "prefill":  # drafts only matter where tokens are decoded
            out |= {"aic_nextn": spec_dec.nextn,
                    "aic_nextn_accept_rates": ",".join(f"{r:g}" for r in spec_dec.accept_rates)}
    return out | (extra or {})


# --------------------------------------------------------------------------------------- local mocker flags

# The spec's per-pool `mocker_args` are CLI flags; with --extra-engine-args the mocker ignores engine flags, so they
# become JSON keys here. (flag -> (key, type)); a flag naming a feature mocker 1.5.1 lacks maps to None.
_FLAG_KEYS: dict[str, tuple[str, type] | None] = {
    "--num-gpu-blocks-override": ("num_gpu_blocks", int),
    "--max-num-seqs": ("max_num_seqs", int),
    "--max-num-batched-tokens": ("max_num_batched_tokens", int),
    "--decode-speedup-ratio": ("decode_speedup_ratio", float),
    "--no-enable-prefix-caching": ("enable_prefix_caching", bool),
    "--num-g2-blocks": None,  # host KV offload tier: 1.3.1 only
}
UNSUPPORTED_FLAGS = {"--num-g2-blocks": "host KV offload (mocker 1.5.1 has no host tier)"}


def mocker_flags_to_json(args: list[str], timing: str) -> tuple[dict[str, Any], list[str], list[str]]:
    """(JSON keys, remaining CLI flags, features not modelled) of a pool's mocker_args.

    Engine flags become JSON keys; anything else (launch flags such as --stagger-delay) stays on the command
    line, where the mocker itself rejects what it does not know. With AIC timing, `--decode-speedup-ratio` (the
    polynomial's stand-in for speculative decoding) is dropped: speculative decoding then comes from
    `simulator.arms.<arm>.speculative`, with its stated acceptance rates.
    """
    out: dict[str, Any] = {}
    rest: list[str] = []
    lost: list[str] = []
    i = 0
    while i < len(args):
        flag = args[i]
        if flag not in _FLAG_KEYS:
            rest.append(flag)
            i += 1
            continue
        mapping = _FLAG_KEYS[flag]
        if mapping is not None and mapping[1] is bool:
            out[mapping[0]] = False
            i += 1
            continue
        if i + 1 >= len(args):
            raise ValueError(f"mocker_args: {flag} needs a value")
        if mapping is None:
            lost.append(UNSUPPORTED_FLAGS[flag])
        elif not (flag == "--decode-speedup-ratio" and timing == "aic"):
            out[mapping[0]] = mapping[1](args[i + 1])
        i += 2
    return out, rest, lost


def timing_of(spec) -> str:
    return spec.simulator.timing if spec.simulator is not None else "polynomial"


def aic_version() -> str:
    """The AIConfigurator database version installed in the simulator environment (from its dist-info)."""
    from featurebench.settings import dynamo_python

    site = Path(dynamo_python()).parents[1] / "lib"
    for info in sorted(site.glob("python3*/site-packages/aiconfigurator_core-*.dist-info")):
        return info.name.removesuffix(".dist-info").split("-")[1]
    return "unknown"


def timing_source(spec, version: str | None = None) -> str:
    """The banner's words for where the timing comes from."""
    if timing_of(spec) != "aic":
        why = "no simulator section in the spec" if spec.simulator is None else "simulator.timing: polynomial"
        return f"uncalibrated polynomial timing ({why}): relative effects only, not hardware numbers"
    gpu = SYSTEM_NAMES.get(spec.simulator.system, spec.simulator.system)
    return f"simulated {gpu} (AIConfigurator {version or aic_version()} database)"


def not_modelled(spec, arm_name: str) -> list[str]:
    """Everything about an arm the simulation leaves out: the spec's list, plus mocker flags it cannot honour."""
    sim = spec.simulator
    listed = list(sim.arm(arm_name).not_modelled) if sim else []
    local = spec.local_arm(arm_name)
    for pool in local.workers:
        listed += [x for x in mocker_flags_to_json(pool.mocker_args, timing_of(spec))[2] if x not in listed]
    return listed
