"""The MobileNet-style layer set of bench.ops: each layer as a small nnlite graph (run as the
network runs it: bound steps on zero-bordered buffers) and its torch eager twin on the same numbers."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnlite.graph import DepthwiseConv2d, Graph, Node, PointwiseConv2d, Slot
from nnlite.ops.pointwise_conv2d import pointwise_kernel_name
from nnlite.ops.resize_bilinear_add import ResizeBilinearAddPlan


@dataclass
class MobileLayer:
    name: str
    kernel: str
    flops: int
    run_nnlite: object
    run_torch: object  # None without torch
    parity: object  # () -> max abs difference, or None without torch


def _graph_runner(graph: Graph, inputs: dict, output: str):
    """Plans the graph for the inputs' size, fills its input buffers, returns (run, result)."""
    x = inputs[graph.input_slot.buffer]
    graph.forward(x)
    buffers, steps = graph._planned(x.shape[0], *x.shape[2:])
    for name, value in inputs.items():
        graph.view(buffers, Slot(name, 0, value.shape[1])).interior[...] = value
    calls = [step for _, step in steps]

    def run():
        for call in calls:
            call()

    def result():
        run()
        return graph.view(buffers, Slot(output, 0, graph.buffer_channels[output])).interior
    return run, result


def mobile_layers(size: int, torch=None, seed: int = 0) -> list[MobileLayer]:
    rng = np.random.default_rng(seed)
    layers = []
    if torch is not None:
        import torch.nn.functional as F

    def tensor(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def add(name, kernel, flops, graph, inputs, output, torch_fn):
        run, result = _graph_runner(graph, inputs, output)
        if torch is None:
            layers.append(MobileLayer(name, kernel, flops, run, None, None))
            return
        tin = {k: torch.from_numpy(v) for k, v in inputs.items()}

        def run_torch():
            with torch.no_grad():
                return torch_fn(tin)

        parity = lambda: float(np.abs(result() - run_torch().numpy()).max())
        layers.append(MobileLayer(name, kernel, flops, run, run_torch, parity))

    # depthwise 3x3 (and the 5x5 of the MobileNetV3-like design), stride 1 and 2
    for channels, hw, stride, k, act in [(16, size // 2, 1, 3, "relu"), (16, size // 2, 2, 3, "relu"),
                                         (64, size // 4, 1, 3, "relu"), (96, size // 4, 2, 3, "relu"),
                                         (128, size // 8, 1, 3, "relu"), (120, size // 16, 1, 5, "hardswish")]:
        w, b = tensor(channels, 1, k, k, scale=0.3), tensor(channels)
        pad = k // 2
        layer = DepthwiseConv2d(w, b, stride, pad, 1, act)
        graph = Graph({"in": channels, "out": channels}, [Node(layer, (Slot("in", 0, channels),), Slot("out", 0, channels))],
                      Slot("in", 0, channels))
        x = tensor(1, channels, hw, hw)
        out_hw = (hw + 2 * pad - k) // stride + 1
        torch_act = {"relu": "relu", "hardswish": "hardswish"}[act]
        add(f"dw{k}x{k} {channels} s{stride} {act[:5]}", "dw", 2 * k * k * channels * out_hw * out_hw, graph, {"in": x}, "out",
            lambda t, w=w, b=b, s=stride, p=pad, c=channels, a=torch_act: getattr(F, a)(
                F.conv2d(t["in"], torch.from_numpy(w), torch.from_numpy(b), s, p, 1, c)))

    # pointwise, with and without the residual
    for cin, cout, hw, residual in [(16, 64, size // 4, False), (64, 16, size // 4, True), (32, 128, size // 8, False),
                                    (128, 32, size // 8, True)]:
        w, b = tensor(cout, cin, 1, 1, scale=1 / np.sqrt(cin)), tensor(cout)
        act = "none" if residual else "relu"
        # the residual rides in the input buffer's last channels: a graph buffer needs a writer
        extra = cout if residual else 0
        ins = (Slot("in", 0, cin),) + ((Slot("in", cin, cout),) if residual else ())
        graph = Graph({"in": cin + extra, "out": cout}, [Node(PointwiseConv2d(w, b, act), ins, Slot("out", 0, cout))],
                      Slot("in", 0, cin + extra))
        inputs = {"in": tensor(1, cin + extra, hw, hw)}
        conv = lambda t, w=w, b=b, c=cin: F.conv2d(t["in"][:, :c], torch.from_numpy(w), torch.from_numpy(b))
        fn = (lambda t, conv=conv, c=cin: conv(t) + t["in"][:, c:]) if residual else (lambda t, conv=conv: F.relu(conv(t)))
        add(f"pw {cin}->{cout}" + (" +res" if residual else " relu"), pointwise_kernel_name(hw, hw, hw), 2 * cin * cout * hw * hw,
            graph, inputs, "out", fn)

    # bilinear x2 of a decoder level added to its skip, in place (the skip is the output), through
    # the plan the graph layer binds
    for channels, hw in [(16, size // 4), (40, size // 16)]:
        coarse, skip = tensor(1, channels, hw, hw), tensor(1, channels, 2 * hw, 2 * hw)
        plan = ResizeBilinearAddPlan((hw, hw), (2 * hw, 2 * hw), "relu")
        work = skip.copy()
        run = lambda plan=plan, coarse=coarse, work=work: plan.run(coarse, work, work)
        run_torch = parity = None
        if torch is not None:
            tc, ts = torch.from_numpy(coarse), torch.from_numpy(skip)
            run_torch = lambda tc=tc, ts=ts: F.relu(F.interpolate(tc, scale_factor=2, mode="bilinear", align_corners=False) + ts)
            parity = lambda plan=plan, coarse=coarse, skip=skip, rt=run_torch: float(
                np.abs(plan.run(coarse, skip.copy(), np.empty_like(skip)) - rt().numpy()).max())
        layers.append(MobileLayer(f"up2x+skip {channels}", "resize", 7 * channels * 4 * hw * hw, run, run_torch, parity))

    # whole inverted-residual blocks: expand (pw, relu), depthwise 3x3 (relu), project (pw) + residual
    for cin, hidden, cout, hw, stride in [(16, 64, 16, size // 4, 1), (32, 128, 32, size // 8, 1), (24, 96, 40, size // 4, 2)]:
        we, be = tensor(hidden, cin, 1, 1, scale=1 / np.sqrt(cin)), tensor(hidden, scale=0.1)
        wd, bd = tensor(hidden, 1, 3, 3, scale=0.3), tensor(hidden, scale=0.1)
        wp, bp = tensor(cout, hidden, 1, 1, scale=1 / np.sqrt(hidden)), tensor(cout, scale=0.1)
        residual = stride == 1 and cin == cout
        nodes = [Node(PointwiseConv2d(we, be, "relu"), (Slot("in", 0, cin),), Slot("e", 0, hidden)),
                 Node(DepthwiseConv2d(wd, bd, stride, 1, 1, "relu"), (Slot("e", 0, hidden),), Slot("d", 0, hidden)),
                 Node(PointwiseConv2d(wp, bp), (Slot("d", 0, hidden),) + ((Slot("in", 0, cin),) if residual else ()),
                      Slot("out", 0, cout))]
        graph = Graph({"in": cin, "e": hidden, "d": hidden, "out": cout}, nodes, Slot("in", 0, cin), keep=("in", "out"))
        out_hw = (hw - 1) // stride + 1
        flops = 2 * (cin * hidden * hw * hw + 9 * hidden * out_hw * out_hw + hidden * cout * out_hw * out_hw)

        def block(t, we=we, be=be, wd=wd, bd=bd, wp=wp, bp=bp, s=stride, h=hidden, r=residual):
            y = F.relu(F.conv2d(t["in"], torch.from_numpy(we), torch.from_numpy(be)))
            y = F.relu(F.conv2d(y, torch.from_numpy(wd), torch.from_numpy(bd), s, 1, 1, h))
            y = F.conv2d(y, torch.from_numpy(wp), torch.from_numpy(bp))
            return y + t["in"] if r else y
        add(f"IR block {cin}-{hidden}-{cout} s{stride}", "block", flops, graph, {"in": tensor(1, cin, hw, hw)}, "out", block)
    return layers
