#!/usr/bin/env python3
"""The PyTorch side of netcl's checkpoint interop test (java/src/test/.../TorchInteropTest.java).

Usage: checkpoint_interop.py JOBS.json. Each job continues or starts a torch.optim.RMSprop run
on tensors and gradients the Java test wrote, through netcl_checkpoint:
  continue: load a netcl checkpoint (optimizer + tensors param.<i>), step `steps` more times
            from step `first_step`, save the result as a checkpoint to `out`;
  train:    start from `init` (param.<i>) with `groups`, step `steps_before` times, save a
            checkpoint to `checkpoint`, step `steps_after` more times, save to `out`;
  model:    load the tensors of `in` into an nn.Linear(4, 3) and save its state_dict() to `out`.
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


def main():
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    kinds = {"continue": continue_job, "train": train_job, "model": model_job}
    for job in jobs:
        kinds[job["kind"]](job)
    print(f"checkpoint_interop: {len(jobs)} jobs done with torch {torch.__version__}")


if __name__ == "__main__":
    main()
