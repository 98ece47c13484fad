"""The training step captured in a CUDA graph: one launch per step instead of a few hundred small kernels, which is
where a 32 px GAN's GPU time goes (the nets are too small to keep an H100 busy between launches).

The graph replays exactly the kernels of the eager step (step.Step.tensors) on fixed buffers: the batch is copied
into a static input, G's noise and fake labels are drawn inside the graph (PyTorch advances the generator's offset at
each replay, so every step gets fresh noise), and Adam/RMSprop run with `capturable=True`, their step counters on
the GPU (on a GPU every job's optimisers are capturable, graph or not: see settle_optimizers). One graph per kind of
step (D only, D then G: n_critic > 1 needs both), captured on first use and again when a learning-rate schedule
changes the rate (a capturable optimiser bakes a float rate into the graph). Capturing needs a few eager warm-up
steps (lazy optimiser state, cuDNN/cuBLAS handles); every tensor they change is put back afterwards, so a
graph-captured job trains on exactly the steps an eager one does.

Where a step cannot be captured (no CUDA device, several DDP ranks, or the capture itself fails) the job trains
eagerly and the reason is logged. Graphs change speed, not the computation: on a GPU the same kernels run, up to the
rounding of kernels whose reduction order varies between streams (tests/train/test_graphs.py: 1e-4 after 6 steps)."""

import logging

import torch

from harness.train.state import TrainState
from harness.train.step import Step, stack

log = logging.getLogger("harness")


def unsupported(step: Step) -> str:
    """Why this step cannot run as a CUDA graph ('' when it can)."""
    accelerator = step.accelerator
    if accelerator.device.type != "cuda":
        return f"CUDA graphs need a CUDA device, not {accelerator.device.type}"
    if accelerator.num_processes > 1:
        return "several DDP ranks: the gradient all-reduce is left to eager DDP"
    return ""


def for_job(step: Step, enabled: bool) -> Step:
    """The job's step: graph-captured when enabled and possible, else the eager one (with the reason logged)."""
    if not enabled:
        return step
    if reason := unsupported(step):
        log.info(f"step: eager ({reason})")
        return step
    return GraphStep(step)


class GraphStep:
    """Same call as step.Step: (uint8 images, labels, update_g) -> stats as floats."""

    def __init__(self, step: Step, warmup: int = 3):
        self.step, self.warmup = step, warmup
        self.graphs: dict[bool, tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}  # update_g -> (graph, stats)
        self.names: dict[bool, list[str]] = {}
        self.images = self.labels = None  # static inputs, allocated at the first batch
        self.rates: tuple[float, ...] = ()  # learning rates the graphs were captured with
        self.fallback = ""  # why this job went back to eager steps

    @property
    def mode(self) -> str:
        return "eager" if self.fallback else "graph"

    def optimizers(self) -> tuple[torch.optim.Optimizer, ...]:
        return self.step.s.opt_d, self.step.s.opt_g

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, update_g: bool) -> dict[str, float]:
        if self.fallback:
            return self.step(images, labels, update_g)
        self.stage(images, labels)
        rates = tuple(g["lr"] for opt in self.optimizers() for g in opt.param_groups)
        if rates != self.rates:
            self.graphs.clear()  # frees their memory pools before new captures
            self.rates = rates
        if update_g not in self.graphs:
            try:
                self.graphs[update_g] = self.capture(update_g)
            except Exception as e:  # noqa: BLE001  (any capture failure: train eagerly, say why)
                self.fallback = f"capture failed: {type(e).__name__}: {e}".splitlines()[0]
                log.warning(f"step: eager ({self.fallback})")
                self.graphs.clear()
                return self.step(images, labels, update_g)
        graph, stats = self.graphs[update_g]
        graph.replay()
        self.step.after(update_g)
        return dict(zip(self.names[update_g], stats.tolist(), strict=True))

    def stage(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        if self.images is None or self.images.shape != images.shape:
            self.images, self.labels = torch.empty_like(images), torch.empty_like(labels)
            self.graphs.clear()  # captured on the old buffers
        self.images.copy_(images, non_blocking=True)
        self.labels.copy_(labels, non_blocking=True)

    def capture(self, update_g: bool) -> tuple[torch.cuda.CUDAGraph, torch.Tensor]:
        step = self.step
        settle_optimizers(step.s, step.accelerator.device)  # a checkpoint loaded since may have reset the flags
        with restored(lambda: state_tensors(step.s)), torch.random.fork_rng(devices=[step.accelerator.device]):
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(self.warmup):
                    step.tensors(self.images, self.labels, update_g)
            torch.cuda.current_stream().wait_stream(side)
        for opt in self.optimizers():
            opt.zero_grad(set_to_none=True)  # gradients are then allocated in the graph's own memory pool
        graph = torch.cuda.CUDAGraph()
        step.autocast_cache = False
        try:
            with torch.cuda.graph(graph):
                stats = step.tensors(self.images, self.labels, update_g)
                stacked = stack(stats)
        finally:
            step.autocast_cache = True
        self.names[update_g] = list(stats)
        log.info(f"step: CUDA graph captured ({'D and G' if update_g else 'D only'})")
        return graph, stacked


def state_tensors(s: TrainState) -> list[torch.Tensor]:
    """Every tensor a training step changes: parameters, buffers (batch-norm statistics, spectral-norm vectors) and
    optimiser state."""
    tensors = [*s.G.parameters(), *s.G.buffers(), *s.D.parameters(), *s.D.buffers()]
    for opt in (s.opt_d, s.opt_g):
        for state in opt.state.values():
            tensors += [v for v in state.values() if torch.is_tensor(v)]
    return tensors


class restored:
    """Puts back every tensor of `tensors()` as it was on entry; tensors created inside (lazily made optimiser state,
    which starts at zero) are zeroed. Copies in place, so nothing a graph captures changes address."""

    def __init__(self, tensors):
        self.tensors = tensors

    def __enter__(self):
        with torch.no_grad():
            self.saved = {id(t): (t, t.detach().clone()) for t in self.tensors()}

    def __exit__(self, *exc):
        tensors = self.tensors()
        if not self.saved.keys() <= {id(t) for t in tensors}:  # replaced, not mutated: a graph would hold stale memory
            self.saved = {}
            raise RuntimeError("a warm-up step replaced a state tensor instead of updating it in place")
        with torch.no_grad():
            for t in tensors:
                if id(t) in self.saved:
                    t.copy_(self.saved[id(t)][1])
                else:
                    t.zero_()  # lazily made optimiser state: Adam's and RMSprop's start at zero
        self.saved = {}
        return False


def settle_optimizers(s: TrainState, device: torch.device) -> None:
    """On a GPU every job's Adam/RMSprop is capturable, step counts on the device, graph-captured or not: capturable
    optimisers round their bias corrections differently, and a graph must compute what an eager step does. On a CPU
    they are not (capturable needs an accelerator). Called after a checkpoint is loaded, since loading restores the
    flags it was saved with (a checkpoint from a GPU job resumed on a CPU, or the other way round)."""
    capturable = device.type == "cuda"
    for opt in (s.opt_d, s.opt_g):
        for group in opt.param_groups:
            group["capturable"] = capturable
        for state in opt.state.values():
            if torch.is_tensor(state.get("step")):
                where = device if capturable else torch.device("cpu")
                state["step"] = state["step"].to(device=where, dtype=torch.float32)
