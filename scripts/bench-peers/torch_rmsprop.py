#!/usr/bin/env python3
"""PyTorch peer for scripts/bench: torch.optim.RMSprop on the CPU, timed on netcl-bench's cases.

    torch_rmsprop.py --json FILE --shapes resnet50-shapes.txt [--quick] [--amp]

Steps torch.optim.RMSprop with foreach=False (impl "torch", one kernel per tensor and
operation) and foreach=True (impl "torch-foreach", multi-tensor kernels) on all cores, and
writes {"tool", "torch_version", "threads", "results": [...], "skipped": [...]} with results
in netcl-bench's schema. Timing follows netcl-bench: a few warm-up steps, then steps until a
time budget is spent; median and 10th/90th percentiles per step. When torch cannot be
imported, the file holds a "skipped" entry with the reason instead, and the script succeeds.

The gradients are every harness's (java/bench's Gradients.java): two tensors per parameter made
beforehand, float i holding 1e-3 * (1 + i % 7) in one and its negation in the other; step k
takes the first for even k and the second for odd k. p.grad is set to the step's tensor
between two timed steps (no copy, and outside the timing).

--amp times PyTorch's AMP step instead (scripts/bench-amp, variant "amp-clip", impls
"torch-amp" and "torch-amp-foreach"): GradScaler's unscale_, clip_grad_norm_, step and update,
written out because torch 1.13's GradScaler and _amp_foreach_non_finite_check_and_unscale_ have
no CPU kernel: found_inf from isfinite over every gradient, the gradients multiplied by the
inverse scale in place, clip_grad_norm_, opt.step() unless found_inf, the scale's update. The
scale is 1 and max_norm large (the coefficient is clamped to 1): the in-place multiplications
run in full (torch does not skip a factor of 1) while the gradients keep their values, so that
they alternate between the two sets like netcl's (which are never rewritten).
"""
import argparse
import json
import os
import time

from shapes import read_shapes

LR, ALPHA, EPS = 1e-3, 0.99, 1e-8
# The gradients of even and odd steps: these factors times (1 + i % 7) (see the module docstring).
GRAD_EVEN, GRAD_ODD = 1e-3, -1e-3

# name, momentum, weight_decay, centered: netcl-bench's variants.
VARIANTS = {
    "plain": (0.0, 0.0, False),
    "momentum": (0.9, 0.0, False),
    "centered_momentum": (0.9, 0.0, True),
    "weight_decay": (0.0, 1e-4, False),
}


def bytes_per_element(variant):
    """Memory traffic of a fused step, the same accounting as netcl-bench."""
    momentum, _, centered = VARIANTS[variant]
    return 20 + (8 if momentum > 0 else 0) + (8 if centered else 0)


def cases(quick, resnet50):
    """(variant, layout, sizes) in netcl-bench's order.

    The quick list includes plain 2^24 because the targets compare netcl against torch there.
    """
    exponents = [10, 14, 18, 22, 24] if quick else list(range(10, 27, 2))
    for e in exponents:
        yield "plain", "single", [1 << e]
    for variant in ("momentum", "centered_momentum", "weight_decay"):
        yield variant, "single", [1 << 24]
    yield "plain", "single", [sum(resnet50)]
    # A model's parameters are separate tensors: that is how torch steps a ResNet-50.
    yield "plain", "separate", resnet50


def measure(step, quick, before_step):
    """Per-step times in ms: netcl-bench's budget (150 ms quick, 600 ms full), 20 to 300/2000 steps.

    before_step(k) prepares step k (counting the warm-up steps) outside the timing.
    """
    budget_ms, max_steps, warmup, min_steps = (150.0, 300, 3, 20) if quick else (600.0, 2000, 3, 20)
    for k in range(warmup):
        before_step(k)
        step()
    times = []
    start = time.perf_counter()
    while len(times) < max_steps and (len(times) < min_steps
                                      or (time.perf_counter() - start) * 1e3 < budget_ms):
        before_step(warmup + len(times))
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    n = len(times)
    return times[n // 2], times[n // 10], times[(n * 9) // 10], n


def parameters(torch, sizes):
    """netcl-bench's tensors (float i holds value * (1 + i % 7)), and each one's gradients for even
    and odd steps; before_step(k) gives every parameter step k's."""
    params, grads = [], ([], [])
    for numel in sizes:
        pattern = (torch.arange(numel, dtype=torch.float32) % 7) + 1
        params.append(torch.nn.Parameter(0.5 * pattern))
        grads[0].append(GRAD_EVEN * pattern)
        grads[1].append(GRAD_ODD * pattern)

    def before_step(k):
        for p, g in zip(params, grads[k % 2]):
            p.grad = g
    before_step(0)
    return params, grads, before_step


def check_finite(torch, impl, variant, params):
    """A run whose parameters became NaN or infinite timed a diverged optimizer: stop, loudly."""
    for p in params:
        if not bool(torch.isfinite(p).all()):
            raise SystemExit(f"torch_rmsprop.py: {impl} {variant}: a parameter became NaN or infinite; "
                             "its times are those of a diverged optimizer")


def run_case(torch, variant, layout, sizes, foreach, quick):
    momentum, weight_decay, centered = VARIANTS[variant]
    params, _, before_step = parameters(torch, sizes)
    opt = torch.optim.RMSprop(params, lr=LR, alpha=ALPHA, eps=EPS, weight_decay=weight_decay,
                              momentum=momentum, centered=centered, foreach=foreach)
    median, p10, p90, steps = measure(opt.step, quick, before_step)
    check_finite(torch, "torch-foreach" if foreach else "torch", variant, params)
    numel = sum(sizes)
    bytes_per_step = numel * bytes_per_element(variant)
    return {"impl": "torch-foreach" if foreach else "torch", "variant": variant, "layout": layout,
            "numel": numel, "tensors": len(sizes), "ms_per_step": median, "p10_ms": p10,
            "p90_ms": p90, "steps": steps, "bytes_per_step": bytes_per_step,
            "gb_per_s": bytes_per_step / (median * 1e6)}


AMP_CASES = [(1 << 16,), (1 << 20,), (1 << 24,)]


def run_amp_case(torch, layout, sizes, foreach, quick):
    params, grads_by_parity, set_grads = parameters(torch, sizes)
    opt = torch.optim.RMSprop(params, lr=LR, alpha=ALPHA, eps=EPS, foreach=foreach)
    scaler = {"scale": 1.0, "tracker": 0}
    current = {"grads": grads_by_parity[0]}

    def before_step(k):
        set_grads(k)
        current["grads"] = grads_by_parity[k % 2]

    def step():
        grads = current["grads"]
        inv_scale = 1.0 / scaler["scale"]
        # unscale_: the inf/NaN check and the in-place unscaling.
        found_inf = any(not bool(torch.isfinite(g).all()) for g in grads)
        if foreach:
            torch._foreach_mul_(grads, inv_scale)
        else:
            for g in grads:
                g.mul_(inv_scale)
        torch.nn.utils.clip_grad_norm_(params, 1e30)
        if not found_inf:
            opt.step()
        # update: back off on inf/NaN, grow after 2000 clean steps.
        if found_inf:
            scaler["scale"] *= 0.5
            scaler["tracker"] = 0
        else:
            scaler["tracker"] += 1
            if scaler["tracker"] == 2000:
                scaler["scale"] *= 2.0
                scaler["tracker"] = 0

    median, p10, p90, steps = measure(step, quick, before_step)
    check_finite(torch, "torch-amp-foreach" if foreach else "torch-amp", "amp-clip", params)
    numel = sum(sizes)
    bytes_per_step = numel * 24  # the two passes netcl-bench's accounting asks of an AMP step
    return {"impl": "torch-amp-foreach" if foreach else "torch-amp", "variant": "amp-clip", "layout": layout,
            "numel": numel, "tensors": len(sizes), "ms_per_step": median, "p10_ms": p10,
            "p90_ms": p90, "steps": steps, "bytes_per_step": bytes_per_step,
            "gb_per_s": bytes_per_step / (median * 1e6)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True, help="where to write the results")
    parser.add_argument("--shapes", required=True, help="native/bench/resnet50-shapes.txt")
    parser.add_argument("--quick", action="store_true", help="netcl-bench --quick's sizes")
    parser.add_argument("--amp", action="store_true", help="the AMP step (scripts/bench-amp) instead")
    args = parser.parse_args()

    out = {"tool": "torch_rmsprop.py", "results": [], "skipped": []}
    try:
        import torch
    except ImportError as e:
        out["skipped"] += [{"impl": impl, "reason": f"torch is not importable: {e}"}
                           for impl in ("torch", "torch-foreach")]
    else:
        torch.set_num_threads(os.cpu_count())
        out.update(torch_version=torch.__version__, threads=torch.get_num_threads())
        resnet50 = read_shapes(args.shapes)
        if args.amp:
            runs = [(layout, sizes, foreach) for layout, sizes in
                    [("single", list(s)) for s in AMP_CASES] + [("separate", resnet50)]
                    for foreach in (False, True)]
        else:
            runs = [(variant, layout, sizes, foreach) for variant, layout, sizes in cases(args.quick, resnet50)
                    for foreach in (False, True)]
        for run in runs:
            if args.amp:
                r = run_amp_case(torch, *run, args.quick)
            else:
                r = run_case(torch, *run, args.quick)
            print(f"{r['impl']:<17} {r['variant']:<18} {r['layout']:<9} {r['numel']:>10} {r['tensors']:>4} "
                  f"{r['ms_per_step']:10.4f} ms [{r['p10_ms']:8.4f}, {r['p90_ms']:8.4f}] "
                  f"{r['gb_per_s']:7.2f} GB/s", flush=True)
            out["results"].append(r)
    with open(args.json, "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
