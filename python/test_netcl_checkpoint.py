"""Tests of netcl_checkpoint on its own: run with `python3 -m unittest discover -s python`
(scripts/test does). The Java side tests the two implementations against each other."""
import os
import struct
import tempfile
import unittest

import torch

import netcl_checkpoint as nc


def raw(header, data=b""):
    return struct.pack("<Q", len(header)) + header + data


class FormatTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "t.safetensors")

    def tearDown(self):
        self.dir.cleanup()

    def write(self, content):
        with open(self.path, "wb") as f:
            f.write(content)
        return self.path

    def test_round_trip_keeps_types_shapes_and_alignment(self):
        tensors = {"u8": torch.arange(3, dtype=torch.uint8), "w": torch.randn(2, 3),
                   "bf": torch.randn(5).to(torch.bfloat16), "i64": torch.arange(4, dtype=torch.int64),
                   "empty": torch.zeros(2, 0)}
        nc.write_safetensors(self.path, tensors, {"epoch": "3"})
        read, metadata = nc.read_safetensors(self.path)
        self.assertEqual(metadata, {"epoch": "3"})
        self.assertEqual(list(read), ["i64", "w", "empty", "bf", "u8"])   # widest first, stable
        for name, t in tensors.items():
            self.assertEqual(read[name].dtype, t.dtype)
            self.assertTrue(torch.equal(read[name], t), name)
        with open(self.path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
        self.assertEqual(n % 8, 0)
        self.assertEqual(os.listdir(self.dir.name), ["t.safetensors"])   # no temporary file left

    def test_reads_the_reference_test_files(self):
        header = b'{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}'
        tensors, _ = nc.read_safetensors(self.write(raw(header, bytes(16))))
        self.assertTrue(torch.equal(tensors["test"], torch.zeros(2, 2, dtype=torch.int32)))
        tensors, _ = nc.read_safetensors(self.write(raw(b'{"test":{"dtype":"I32","shape":[2,0],"data_offsets":[0, 0]}}')))
        self.assertEqual(tuple(tensors["test"].shape), (2, 0))
        self.assertEqual(nc.read_safetensors(self.write(raw(b"\t\n{}\r ")))[0], {})

    def test_refuses_bad_files(self):
        t = b'"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}'
        cases = {
            b"": "too few",
            struct.pack("<Q", 100_000_001) + b"{}": "over the limit",
            struct.pack("<Q", 50) + b"{}": "beyond the end",
            raw(b"[]"): "does not start with",
            raw(b"{\xff}"): "not valid UTF-8",
            raw(b"{"): "not valid JSON",
            raw(b"{" + t + b"," + t + b"}", bytes(16)): "duplicate",
            raw(b'{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}', bytes(16)): "unknown dtype",
            raw(b'{"a":{"dtype":"I32","shape":[2,2],"data_offsets":[0,4]}}', bytes(4)): "needs 16 bytes",
            raw(b'{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[8],'
                b'"data_offsets":[16,24]}}', bytes(24)): "hole",
            raw(b'{"a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]},"b":{"dtype":"U8","shape":[16],'
                b'"data_offsets":[8,24]}}', bytes(24)): "inside the tensor before it",
            raw(b"{" + t + b"}", bytes(9)): "holds 9",
            raw(b'{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,8]}}', bytes(8)): "not a list of integers",
        }
        for content, problem in cases.items():
            with self.subTest(problem=problem):
                with self.assertRaises(nc.CheckpointError) as e:
                    nc.read_safetensors(self.write(content))
                self.assertIn(problem, str(e.exception))
                self.assertIn(self.path, str(e.exception))


class OptimizerTest(unittest.TestCase):
    def make(self, seed):
        torch.manual_seed(seed)
        params = [torch.nn.Parameter(torch.randn(3, 4)), torch.nn.Parameter(torch.randn(5)),
                  torch.nn.Parameter(torch.randn(2))]
        opt = torch.optim.RMSprop([{"params": params[:2], "momentum": 0.9, "centered": True},
                                   {"params": params[2:], "weight_decay": 0.1, "lr": 0.003}])
        return params, opt

    def steps(self, params, opt, first, count):
        for s in range(first, first + count):
            for i, p in enumerate(params):
                torch.manual_seed(100 * s + i)
                p.grad = None if i == 2 and s % 2 else torch.randn_like(p)
            opt.step()

    def test_state_dict_round_trip_continues_identically(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "run.safetensors")
            params, opt = self.make(1)
            self.steps(params, opt, 0, 3)
            nc.save(path, optimizer=opt, model={f"p{i}": p.detach() for i, p in enumerate(params)},
                    metadata={"epoch": "1"})
            self.steps(params, opt, 3, 2)
            params2, opt2 = self.make(2)
            opt2.load_state_dict(nc.load_optimizer_state_dict(path, opt2))
            model = nc.load_model_state_dict(path)
            with torch.no_grad():
                for i, p in enumerate(params2):
                    p.copy_(model[f"p{i}"])
            self.steps(params2, opt2, 3, 2)
            for a, b in zip(params, params2):
                self.assertTrue(torch.equal(a, b))
            self.assertEqual(opt.state_dict()["param_groups"], opt2.state_dict()["param_groups"])

    def test_masters_and_scaler_state_round_trip(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "amp.safetensors")
            params, opt = self.make(1)
            self.steps(params, opt, 0, 2)
            scaler = {"scale": 32768.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000,
                      "_growth_tracker": 7}
            masters = {0: params[0].detach() + 0.25}
            nc.save(path, optimizer=opt, scaler=scaler, masters=masters)
            _, metadata = nc.read_safetensors(path)
            self.assertEqual("32768.0", metadata["scaler.scale"])
            self.assertEqual("7", metadata["scaler._growth_tracker"])
            self.assertEqual(scaler, nc.load_scaler_state_dict(path))
            loaded = nc.load_masters(path, opt)
            self.assertEqual([0], list(loaded))
            self.assertTrue(torch.equal(masters[0], loaded[0]))
            # PyTorch's RMSprop state has no masters: they stay out of it.
            state = nc.load_optimizer_state_dict(path, opt)["state"]
            self.assertNotIn("master", state[0])
            opt.load_state_dict(nc.load_optimizer_state_dict(path, opt))
            with self.assertRaises(ValueError):
                nc.save(path, optimizer=opt, masters={9: torch.zeros(1)})
            nc.save(path, optimizer=opt)
            self.assertEqual({}, nc.load_scaler_state_dict(path))

    def test_future_version_and_reserved_names_are_refused(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "v.safetensors")
            nc.write_safetensors(path, {}, {"format_version": "2", "param_groups": "[]"})
            with self.assertRaises(nc.CheckpointError):
                nc.load_optimizer_state_dict(path)
            with self.assertRaises(ValueError):
                nc.save(path, model={"state.0.square_avg": torch.zeros(1)})


if __name__ == "__main__":
    unittest.main()
