"""Small layer objects and a forward pass over them.

A Graph is a list of nodes run in order. Each node reads one or more Slots and writes one Slot;
a Slot is a run of channels inside a named buffer. Buffers are allocated once per input size and
reused for every later call of that size (no allocation per frame), and they carry a zero border
as wide as the largest padding of any conv that reads them, so convs never copy to pad. Dense
connections are free: every layer of a dense block writes its own channel range of one buffer and
the next layer reads the leading channels of the same buffer.

Shapes are checked once, when a new input size is planned: channels against each layer's weights,
and the spatial size of every buffer against all the nodes that write it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from nnlite.errors import ShapeError
from nnlite.ops import box_filter, conv2d_padded, max_pool2d, resize_bilinear, softmax
from nnlite.ops.conv2d import conv2d_output_shape
from nnlite.ops.max_pool2d import max_pool2d_output_shape


@dataclass(frozen=True)
class Slot:
    """Channels first .. first + count - 1 of buffer `buffer`."""
    buffer: str
    first: int
    count: int


@dataclass
class BufferView:
    array: np.ndarray  # N x C x (H + 2*border) x (W + 2*border), zero border
    border: int
    slot: Slot

    @property
    def interior(self) -> np.ndarray:
        b, s = self.border, self.slot
        h, w = self.array.shape[2] - 2 * b, self.array.shape[3] - 2 * b
        return self.array[:, s.first: s.first + s.count, b: b + h, b: b + w]


class Layer:
    """Base: a layer maps input spatial sizes to an output size and fills `out` from its inputs."""
    padding = 0  # zero border this layer needs around each input

    def output_hw(self, input_hws):
        return input_hws[0]

    def check_channels(self, input_channels, output_channels):
        if input_channels[0] != output_channels:
            raise ShapeError(f"{type(self).__name__}: {input_channels[0]} channels in, {output_channels} out")

    def run(self, inputs: list[BufferView], out: np.ndarray) -> None:
        raise NotImplementedError


class Conv2d(Layer):
    def __init__(self, weight, bias=None, stride=1, padding=0, dilation=1, relu=False):
        self.weight, self.bias = weight, bias
        self.stride, self.padding, self.dilation, self.relu = stride, padding, dilation, relu

    def output_hw(self, input_hws):
        h, w = input_hws[0]
        return conv2d_output_shape((1, self.weight.shape[1], h, w), self.weight.shape, self.stride, self.padding, self.dilation)[2:]

    def check_channels(self, input_channels, output_channels):
        if input_channels[0] != self.weight.shape[1] or output_channels != self.weight.shape[0]:
            raise ShapeError(f"Conv2d: weight {self.weight.shape} cannot map {input_channels[0]} channels to {output_channels}")

    def run(self, inputs, out):
        src = inputs[0]
        origin = (src.border - self.padding, src.border - self.padding)
        conv2d_padded(src.array, self.weight, self.bias, origin, out.shape[2:], self.stride, self.dilation,
                      self.relu, out=out, first_channel=src.slot.first)


class MaxPool2d(Layer):
    def __init__(self, kernel_size, stride=None):
        self.kernel_size, self.stride = kernel_size, stride

    def output_hw(self, input_hws):
        return max_pool2d_output_shape((1, 1) + tuple(input_hws[0]), self.kernel_size, self.stride)[2:]

    def run(self, inputs, out):
        max_pool2d(inputs[0].interior, self.kernel_size, self.stride, out=out)


class ResizeBilinear(Layer):
    """Resize to the spatial size of a second input (a size reference, never read) or by a factor."""

    def __init__(self, scale_factor=None, align_corners=False):
        self.scale_factor, self.align_corners = scale_factor, align_corners

    def output_hw(self, input_hws):
        if self.scale_factor is None:
            return input_hws[1]
        h, w = input_hws[0]
        return int(h * self.scale_factor), int(w * self.scale_factor)

    def run(self, inputs, out):
        if self.scale_factor is None:
            resize_bilinear(inputs[0].interior, size=out.shape[2:], align_corners=self.align_corners, out=out)
        else:
            resize_bilinear(inputs[0].interior, scale_factor=self.scale_factor, align_corners=self.align_corners, out=out)


class Softmax(Layer):
    def run(self, inputs, out):
        softmax(inputs[0].interior, out=out)


class BoxFilter(Layer):
    def __init__(self, radius):
        self.radius = radius

    def run(self, inputs, out):
        box_filter(inputs[0].interior, self.radius, out=out)


@dataclass
class Node:
    layer: Layer
    inputs: tuple
    output: Slot
    stage: str = "forward"  # label under which forward(timings=...) adds this node's time


class Graph:
    def __init__(self, buffers: dict[str, int], nodes: list[Node], input_slot: Slot):
        """buffers: name -> channel count. input_slot: where forward() copies its input."""
        self.buffer_channels = dict(buffers)
        self.nodes = list(nodes)
        self.input_slot = input_slot
        for node in self.nodes:
            for slot in node.inputs + (node.output,):
                if slot.buffer not in buffers or slot.first + slot.count > buffers[slot.buffer]:
                    raise ShapeError(f"graph: slot {slot} lies outside its buffer")
            node.layer.check_channels([s.count for s in node.inputs], node.output.count)
        self.borders = {name: 0 for name in buffers}
        for node in self.nodes:
            for slot in node.inputs:
                self.borders[slot.buffer] = max(self.borders[slot.buffer], node.layer.padding)
        self._plans: dict[tuple, dict[str, np.ndarray]] = {}

    def _plan(self, batch: int, height: int, width: int) -> dict[str, np.ndarray]:
        sizes = {self.input_slot.buffer: (height, width)}
        for node in self.nodes:
            hws = []
            for slot in node.inputs:
                if slot.buffer not in sizes:
                    raise ShapeError(f"graph: {type(node.layer).__name__} reads buffer {slot.buffer!r} before any node writes it")
                hws.append(sizes[slot.buffer])
            hw = tuple(int(v) for v in node.layer.output_hw(hws))
            if min(hw) < 1:
                raise ShapeError(f"graph: a {height}x{width} input is too small for {type(node.layer).__name__}")
            if sizes.setdefault(node.output.buffer, hw) != hw:
                raise ShapeError(f"graph: buffer {node.output.buffer!r} written at {hw} and at {sizes[node.output.buffer]}")
        return {name: np.zeros((batch, self.buffer_channels[name], h + 2 * self.borders[name], w + 2 * self.borders[name]), np.float32)
                for name, (h, w) in sizes.items()}

    def buffers_for(self, batch: int, height: int, width: int) -> dict[str, np.ndarray]:
        key = (batch, height, width)
        if key not in self._plans:
            if len(self._plans) >= 4:  # a video keeps one size; a folder of photos must not grow memory
                self._plans.pop(next(iter(self._plans)))
            self._plans[key] = self._plan(batch, height, width)
        return self._plans[key]

    def view(self, buffers, slot: Slot) -> BufferView:
        return BufferView(buffers[slot.buffer], self.borders[slot.buffer], slot)

    def forward(self, x: np.ndarray, timings: dict | None = None) -> dict[str, np.ndarray]:
        """Runs the graph on N x C x H x W float32 x; returns every buffer's interior (views, valid until
        the next call). With a `timings` dict, adds each node's seconds under its stage label."""
        if not isinstance(x, np.ndarray) or x.ndim != 4 or x.dtype != np.float32 or x.shape[1] != self.input_slot.count:
            raise ShapeError(f"graph input: expected float32 N x {self.input_slot.count} x H x W, got "
                             f"{getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}")
        buffers = self.buffers_for(*x.shape[:1], *x.shape[2:])
        self.view(buffers, self.input_slot).interior[...] = x
        for node in self.nodes:
            t0 = time.perf_counter()
            node.layer.run([self.view(buffers, s) for s in node.inputs], self.view(buffers, node.output).interior)
            if timings is not None:
                timings[node.stage] = timings.get(node.stage, 0.0) + time.perf_counter() - t0
        return {name: BufferView(a, self.borders[name], Slot(name, 0, a.shape[1])).interior for name, a in buffers.items()}
