#!/usr/bin/env python3
"""The PyTorch side of netcl's checkpoint interop test (java/src/test/.../TorchInteropTest.java).

Usage: checkpoint_interop.py JOBS.json. Each job continues or starts a torch.optim.RMSprop run
on tensors and gradients the Java test wrote, through netcl_checkpoint:
  continue: load a netcl checkpoint (optimizer + tensors param.<i>), step `steps` more times
            from step `first_step`, save the result as a checkpoint to `out`;
  train:    start from `init` (param.<i>) with `groups`, step `steps_before` times, save a
            checkpoint to `checkpoint`, step `steps_after` more times, save to `out`;
  model:    load the tensors of `in` into an nn.Linear(4, 3) and save its state_dict() to `out`;
  amp:      load a netcl mixed-precision checkpoint (bf16 tensors layer<i>.weight, their float32
            masters, the GradScaler's state) into float32 parameters, as PyTorch's autocast
            training holds them, step `steps` more times from step `first_step` on gradients
            unscaled by the step's scale (metadata scale.<s> of `grads`), and save parameters
            (rounded back to bf16), masters, optimizer and scaler state to `out`.
Gradients: tensor grad.<s>.<i> of `grads` is parameter i's gradient at step s; absent = None.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netcl_checkpoint as nc  # noqa: E402


def run_steps(optimizer, params, grads, first, count):
    for s in range(first, first + count):
        for i, p in enumerate(params):
            g = grads.get(f"grad.{s}.{i}")
            p.grad = None if g is None else g.reshape(p.shape).clone()
        optimizer.step()


def named(params):
    return {f"param.{i}": p.detach() for i, p in enumerate(params)}


def continue_job(job):
    tensors, metadata = nc.read_safetensors(job["checkpoint"])
    groups = json.loads(metadata["param_groups"])
    count = sum(len(g["params"]) for g in groups)
    params = [torch.nn.Parameter(tensors[f"param.{i}"].clone()) for i in range(count)]
    torch_groups = [{"params": [params[pid] for pid in g["params"]]} for g in groups]
    optimizer = torch.optim.RMSprop(torch_groups)
    optimizer.load_state_dict(nc.load_optimizer_state_dict(job["checkpoint"], optimizer))
    grads, _ = nc.read_safetensors(job["grads"])
    run_steps(optimizer, params, grads, job["first_step"], job["steps"])
    nc.save(job["out"], optimizer=optimizer, model=named(params))


def train_job(job):
    init, _ = nc.read_safetensors(job["init"])
    params = [torch.nn.Parameter(init[f"param.{i}"].clone()) for i in range(len(init))]
    groups = [dict(g["options"], params=[params[i] for i in g["params"]]) for g in job["groups"]]
    optimizer = torch.optim.RMSprop(groups)
    grads, _ = nc.read_safetensors(job["grads"])
    run_steps(optimizer, params, grads, 0, job["steps_before"])
    nc.save(job["checkpoint"], optimizer=optimizer, model=named(params))
    run_steps(optimizer, params, grads, job["steps_before"], job["steps_after"])
    nc.save(job["out"], optimizer=optimizer, model=named(params))


def model_job(job):
    model = torch.nn.Linear(4, 3)
    model.load_state_dict(nc.load_model_state_dict(job["in"], like=model.state_dict()))
    nc.save(job["out"], model=model.state_dict())


def amp_job(job):
    tensors, metadata = nc.read_safetensors(job["checkpoint"])
    groups = json.loads(metadata["param_groups"])
    count = sum(len(g["params"]) for g in groups)
    model = {i: tensors[f"layer{i}.weight"] for i in range(count)}
    masters = nc.load_masters(job["checkpoint"])
    for pid, master in masters.items():
        if not torch.equal(master.to(torch.bfloat16), model[pid]):
            raise SystemExit(f"amp: parameter {pid} is not its master rounded to bf16")
    params = [torch.nn.Parameter(masters[i].clone() if i in masters else model[i].clone()) for i in range(count)]
    optimizer = torch.optim.RMSprop([{"params": [params[pid] for pid in g["params"]]} for g in groups])
    optimizer.load_state_dict(nc.load_optimizer_state_dict(job["checkpoint"], optimizer))
    scaler = nc.load_scaler_state_dict(job["checkpoint"])
    grads, grad_metadata = nc.read_safetensors(job["grads"])
    for s in range(job["first_step"], job["first_step"] + job["steps"]):
        inv_scale = torch.tensor(float(grad_metadata[f"scale.{s}"]), dtype=torch.float64).reciprocal().float()
        for i, p in enumerate(params):
            p.grad = grads[f"grad.{s}.{i}"].float() * inv_scale   # GradScaler.unscale_'s product
        optimizer.step()
    bf16 = {i: p.detach().to(model[i].dtype) for i, p in enumerate(params)}
    nc.save(job["out"], optimizer=optimizer, model={f"layer{i}.weight": t for i, t in bf16.items()},
            scaler=scaler, masters={pid: params[pid].detach() for pid in masters})


def main():
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    kinds = {"continue": continue_job, "train": train_job, "model": model_job, "amp": amp_job}
    for job in jobs:
        kinds[job["kind"]](job)
    print(f"checkpoint_interop: {len(jobs)} jobs done with torch {torch.__version__}")


if __name__ == "__main__":
    main()
