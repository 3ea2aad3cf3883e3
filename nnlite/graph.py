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

from nnlite._jit import kernels_on
from nnlite.errors import ShapeError
from nnlite.ops import box_filter, conv2d_padded, max_pool2d, resize_bilinear, softmax
from nnlite.ops.activation import _activation_window_kernel, activation, activation_code, activation_numpy
from nnlite.ops.add import _add_kernel
from nnlite.ops.average_pool2x2 import _average_pool2x2_kernel, average_pool2x2
from nnlite.ops.channel_scale import _channel_scale_kernel, channel_scale
from nnlite.ops.conv2d import conv2d_output_shape
from nnlite.ops.conv2d import _space_to_depth, conv2d_kernel_name, space_to_depth_weights
from nnlite.ops.conv_pixels import CHANNELS as PIXELS_KERNEL_CHANNELS
from nnlite.ops.conv_pixels import PIXELS as PIXELS_KERNEL_BLOCK
from nnlite.ops.conv_pixels import pack_pixels_weights, pixels_kernel_for, pixels_taps
from nnlite.ops.depthwise_conv2d import (_depthwise3x3_kernel, _depthwise_rows_kernel, depthwise_conv2d_kernel_name,
                                         depthwise_conv2d_output_shape, depthwise_conv2d_padded)
from nnlite.ops.global_avg_pool import global_avg_pool
from nnlite.ops.max_pool2d import max_pool2d_output_shape
from nnlite.ops.pointwise_conv2d import ZERO_TAP, PointwisePlan, pointwise_kernel_name
from nnlite.ops.resize_bilinear_add import ResizeBilinearAddPlan
from nnlite.ops.resize_softmax2 import ResizeSoftmax2Plan


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

    @property
    def window(self) -> tuple:
        """(buffer, first channel, oy, ox): how the windowed kernels address this slot's interior."""
        return self.array, self.slot.first, self.border, self.border

    def array_window(self, first: int) -> tuple:
        """The window tuple of this buffer's interior from channel `first`."""
        return self.array, first, self.border, self.border

    @property
    def hw(self) -> tuple:
        return self.array.shape[2] - 2 * self.border, self.array.shape[3] - 2 * self.border


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

    def bind(self, inputs: list[BufferView], out: BufferView):
        """A call with no arguments that runs this layer on these (fixed) buffers. Layers that
        address buffers directly override it to do their argument work once per input size."""
        interior = out.interior
        return lambda: self.run(inputs, interior)


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

    def bind(self, inputs, out):
        """The pixels kernel called directly, its weights packed once (for a 3x3 stride-2 conv: the
        space-to-depth weights, and a phases buffer made once); other kernels through run()."""
        src, (h, w) = inputs[0], out.hw
        if conv2d_kernel_name(self.weight.shape, self.stride, self.dilation, w) != "pixels" or self.stride not in (1, 2):
            return super().bind(inputs, out)
        weight, source, pitch = self.weight, src.array, src.array.shape[3]
        corner = src.border - self.padding
        if self.stride == 2:
            cin = weight.shape[1]
            phases = np.zeros((source.shape[0], cin, 2, 2, h + 2, w + 2), np.float32)
            weight, source, pitch = space_to_depth_weights(weight)[:, :, :2, :2], phases.reshape(source.shape[0], 4 * cin, h + 2, w + 2), w + 2
        if (h - 1) * pitch + w < PIXELS_KERNEL_BLOCK:
            return super().bind(inputs, out)
        cout = weight.shape[0]
        packed = pack_pixels_weights(np.ascontiguousarray(weight))
        bias = np.zeros(packed.shape[0] * PIXELS_KERNEL_CHANNELS, np.float32)
        bias[:cout] = 0 if self.bias is None else self.bias
        taps = pixels_taps(weight.shape[2:], (self.dilation, self.dilation), pitch)
        kernel = pixels_kernel_for(w)
        if self.stride == 1:
            args = (source, src.slot.first, corner, corner, h, w, taps, packed, bias, cout, *out.window, False,
                    1 if self.relu else 0, *out.window)
            return lambda: kernel(*args)
        args = (source, 0, 0, 0, h, w, taps, packed, bias, cout, *out.window, False, 1 if self.relu else 0, *out.window)

        def run():
            _space_to_depth(src.array, src.slot.first, self.weight.shape[1], corner, corner, h, w, phases)
            kernel(*args)
        return run


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

    def bind(self, inputs, out):
        """To a reference's size without corner alignment (the fast guided filter's coefficients), the
        bordered-window kernels of ResizeBilinearAdd, their tables made once, with nothing added."""
        if self.scale_factor is not None or self.align_corners:
            return super().bind(inputs, out)
        plan = ResizeBilinearAddPlan(inputs[0].hw, out.hw)
        source, interior = inputs[0].interior, out.interior
        return lambda: plan.run(source, None, interior)


class AveragePool2x2(Layer):
    """The mean of each 2x2 block (bilinear resizing by 0.5, exactly)."""

    def output_hw(self, input_hws):
        h, w = input_hws[0]
        return h // 2, w // 2

    def run(self, inputs, out):
        average_pool2x2(inputs[0].interior, out=out)

    def bind(self, inputs, out):
        if not kernels_on():
            return super().bind(inputs, out)
        args = (out.slot.count, *out.hw, *inputs[0].window, *out.window)
        return lambda: _average_pool2x2_kernel(*args)


class ResizeSoftmax2(Layer):
    """Two-class softmax of the logits resized to a reference input's size (a second input, never
    read) or by a factor: ResizeBilinear and Softmax in one pass."""

    def __init__(self, scale_factor=None):
        self.scale_factor = scale_factor

    def output_hw(self, input_hws):
        if self.scale_factor is None:
            return input_hws[1]
        h, w = input_hws[0]
        return int(h * self.scale_factor), int(w * self.scale_factor)

    def check_channels(self, input_channels, output_channels):
        if input_channels[0] != 2 or output_channels != 2:
            raise ShapeError(f"ResizeSoftmax2: 2 channels of logits in and scores out, got {input_channels[0]} -> {output_channels}")

    def run(self, inputs, out):
        ResizeSoftmax2Plan(inputs[0].hw, out.shape[2:], self.scale_factor).run(inputs[0].interior, out)

    def bind(self, inputs, out):
        plan = ResizeSoftmax2Plan(inputs[0].hw, out.hw, self.scale_factor)
        logits, interior = inputs[0].interior, out.interior
        return lambda: plan.run(logits, interior)


class Softmax(Layer):
    def run(self, inputs, out):
        softmax(inputs[0].interior, out=out)


class BoxFilter(Layer):
    def __init__(self, radius):
        self.radius = radius

    def run(self, inputs, out):
        box_filter(inputs[0].interior, self.radius, out=out)


class DepthwiseConv2d(Layer):
    """One filter per channel (weight C x 1 x R x S), padding taken from the input's zero border."""

    def __init__(self, weight, bias, stride=1, padding=0, dilation=1, activation="none"):
        self.weight, self.bias = np.ascontiguousarray(weight), bias
        self.stride, self.padding, self.dilation, self.activation = stride, padding, dilation, activation

    def output_hw(self, input_hws):
        h, w = input_hws[0]
        return depthwise_conv2d_output_shape((1, self.weight.shape[0], h, w), self.weight.shape, self.stride,
                                             self.padding, self.dilation)[2:]

    def check_channels(self, input_channels, output_channels):
        if self.weight.shape[1] != 1 or input_channels[0] != self.weight.shape[0] or output_channels != self.weight.shape[0]:
            raise ShapeError(f"DepthwiseConv2d: weight {self.weight.shape} cannot map {input_channels[0]} channels to {output_channels}")

    def run(self, inputs, out):
        src = inputs[0]
        origin = (src.border - self.padding,) * 2
        depthwise_conv2d_padded(src.array, self.weight, self.bias, origin, out.shape[2:], self.stride, self.dilation,
                                self.activation, out=out, first_channel=src.slot.first)

    def bind(self, inputs, out):
        kernel = depthwise_conv2d_kernel_name(self.weight.shape)
        if kernel == "numpy":
            return super().bind(inputs, out)
        src, corner = inputs[0], inputs[0].border - self.padding
        bias = np.zeros(self.weight.shape[0], np.float32) if self.bias is None else self.bias
        run = _depthwise3x3_kernel if kernel == "3x3" else _depthwise_rows_kernel
        args = (src.array, src.slot.first, corner, corner, self.weight, bias, self.stride, self.stride, self.dilation,
                self.dilation, *out.hw, activation_code(self.activation), *out.window)
        return lambda: run(*args)


class PointwiseConv2d(Layer):
    """1x1 conv; with a second input, act(conv(x) + skip): the residual add of an inverted-residual block."""

    def __init__(self, weight, bias, activation="none"):
        self.plan = PointwisePlan(weight, bias, activation)

    def check_channels(self, input_channels, output_channels):
        k, c = self.plan.weight.shape[:2]
        if input_channels[0] != c or output_channels != k or any(n != k for n in input_channels[1:]):
            raise ShapeError(f"PointwiseConv2d: weight {self.plan.weight.shape} cannot map {input_channels} channels to {output_channels}")

    def run(self, inputs, out):
        src = inputs[0]
        skip = inputs[1].interior if len(inputs) > 1 else None
        self.plan.run(src.array, src.slot.first, (src.border, src.border), src.hw, out, skip)

    def bind(self, inputs, out):
        src, (h, w), plan = inputs[0], out.hw, self.plan
        if pointwise_kernel_name(h, w, src.array.shape[3]) != "block":
            return super().bind(inputs, out)
        has_skip = len(inputs) > 1
        skip_window = inputs[1].window if has_skip else out.window
        args = (src.array, src.slot.first, src.border, src.border, h, w, ZERO_TAP, plan.packed, plan.padded_bias,
                plan.weight.shape[0], *skip_window, has_skip, plan.code, *out.window)
        kernel = pixels_kernel_for(w)
        return lambda: kernel(*args)


class Add(Layer):
    def __init__(self, activation="none"):
        self.activation, self.code = activation, activation_code(activation)

    def check_channels(self, input_channels, output_channels):
        if input_channels != [output_channels, output_channels]:
            raise ShapeError(f"Add: {input_channels} channels in, {output_channels} out")

    def run(self, inputs, out):
        np.add(inputs[0].interior, inputs[1].interior, out=out)
        activation_numpy(out, self.activation, out)

    def bind(self, inputs, out):
        if not kernels_on():
            return super().bind(inputs, out)
        (h, w), c = out.hw, out.slot.count
        args = (h, w, c, *inputs[0].window, *inputs[1].window, self.code, *out.window)
        return lambda: _add_kernel(*args)


class ResizeBilinearAdd(Layer):
    """act(bilinear_resize(coarse, to skip's size) + skip); inputs: coarse, skip. The output may be
    the skip's own slot (accumulated in place)."""

    def __init__(self, activation="none"):
        self.activation = activation

    def output_hw(self, input_hws):
        return input_hws[1]

    def check_channels(self, input_channels, output_channels):
        if input_channels != [output_channels, output_channels]:
            raise ShapeError(f"ResizeBilinearAdd: {input_channels} channels in, {output_channels} out")

    def run(self, inputs, out):
        plan = ResizeBilinearAddPlan(inputs[0].hw, inputs[1].hw, self.activation)
        plan.run(inputs[0].interior, inputs[1].interior, out)

    def bind(self, inputs, out):
        plan = ResizeBilinearAddPlan(inputs[0].hw, inputs[1].hw, self.activation)
        coarse, skip, interior = inputs[0].interior, inputs[1].interior, out.interior
        return lambda: plan.run(coarse, skip, interior)


class GlobalAvgPool(Layer):
    def output_hw(self, input_hws):
        return 1, 1

    def run(self, inputs, out):
        global_avg_pool(inputs[0].interior, out=out)


class ChannelScale(Layer):
    """x * act(gate), gate N x C x 1 x 1; inputs: x, gate."""

    def __init__(self, activation="sigmoid"):
        self.activation, self.code = activation, activation_code(activation)

    def check_channels(self, input_channels, output_channels):
        if input_channels != [output_channels, output_channels]:
            raise ShapeError(f"ChannelScale: {input_channels} channels in, {output_channels} out")

    def run(self, inputs, out):
        channel_scale(inputs[0].interior, np.ascontiguousarray(inputs[1].interior), self.activation, out=out)

    def bind(self, inputs, out):
        if not kernels_on():
            return super().bind(inputs, out)
        (h, w), c = out.hw, out.slot.count
        gate = inputs[1].interior
        if not gate.flags.c_contiguous:
            return super().bind(inputs, out)
        args = (h, w, c, *inputs[0].window, gate, self.code, *out.window)
        return lambda: _channel_scale_kernel(*args)


class Activation(Layer):
    def __init__(self, name):
        activation_code(name)
        self.name = name

    def run(self, inputs, out):
        src = inputs[0].interior
        if kernels_on() and src.flags.c_contiguous and out.flags.c_contiguous:
            activation(src, self.name, out=out)
        else:
            activation_numpy(src, self.name, out)

    def bind(self, inputs, out):
        if not kernels_on():
            return super().bind(inputs, out)
        args = (*out.hw, out.slot.count, *inputs[0].window, activation_code(self.name), *out.window)
        return lambda: _activation_window_kernel(*args)


@dataclass
class Node:
    layer: Layer
    inputs: tuple
    output: Slot
    stage: str = "forward"  # label under which forward(timings=...) adds this node's time


class Graph:
    def __init__(self, buffers: dict[str, int], nodes: list[Node], input_slot: Slot, keep=None):
        """buffers: name -> channel count. input_slot: where forward() copies its input.

        keep: None, or the buffers the caller reads after forward(); the others then share memory
        where their lives do not overlap (a buffer lives from the node that first writes it, all
        its channels at once, to the last node that reads it), so that a deep network's working
        set stays in the CPU's caches. forward() returns only the kept buffers then."""
        self.keep = None if keep is None else set(keep) | {input_slot.buffer}
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
        shapes = {name: (batch, self.buffer_channels[name], h + 2 * self.borders[name], w + 2 * self.borders[name])
                  for name, (h, w) in sizes.items()}
        if self.keep is None:
            return {name: np.zeros(shape, np.float32) for name, shape in shapes.items()}
        return self._shared_arrays(shapes)

    def _shared_arrays(self, shapes: dict) -> dict[str, np.ndarray]:
        """One zeroed array per buffer, arrays reused between buffers of one shape whose lives do
        not overlap. Borders stay zero: every layer writes only interiors."""
        first_write, last_use = {}, {}
        for i, node in enumerate(self.nodes):
            for slot in node.inputs:
                last_use[slot.buffer] = i
            out = node.output
            if out.buffer not in first_write:
                whole = out.first == 0 and out.count == self.buffer_channels[out.buffer]
                first_write[out.buffer] = i if whole else -1  # written in parts: not shared
            last_use[out.buffer] = max(last_use.get(out.buffer, i), i)
        arrays, pool = {}, []  # pool: [array, index of its last use]
        for name in sorted(shapes, key=lambda n: first_write.get(n, -1)):
            start = first_write.get(name, -1)
            shareable = name not in self.keep and start >= 0
            if shareable:
                for entry in pool:
                    if entry[0].shape == shapes[name] and entry[1] < start:
                        arrays[name] = entry[0]
                        entry[1] = last_use[name]
                        break
            if name not in arrays:
                arrays[name] = np.zeros(shapes[name], np.float32)
                if shareable:
                    pool.append([arrays[name], last_use[name]])
        return arrays

    def buffers_for(self, batch: int, height: int, width: int) -> dict[str, np.ndarray]:
        return self._planned(batch, height, width)[0]

    def _planned(self, batch: int, height: int, width: int):
        """(buffers, steps) for this input size: steps are the nodes bound to the buffers, so that
        a frame pays for no argument work that does not change between frames."""
        key = (batch, height, width, kernels_on())
        if key not in self._plans:
            if len(self._plans) >= 4:  # a video keeps one size; a folder of photos must not grow memory
                self._plans.pop(next(iter(self._plans)))
            buffers = self._plan(batch, height, width)
            steps = [(node.stage, node.layer.bind([self.view(buffers, s) for s in node.inputs], self.view(buffers, node.output)))
                     for node in self.nodes]
            self._plans[key] = (buffers, steps)
        return self._plans[key]

    def view(self, buffers, slot: Slot) -> BufferView:
        return BufferView(buffers[slot.buffer], self.borders[slot.buffer], slot)

    def forward(self, x: np.ndarray, timings: dict | None = None) -> dict[str, np.ndarray]:
        """Runs the graph on N x C x H x W float32 x; returns every buffer's interior (views, valid until
        the next call). With a `timings` dict, adds each node's seconds under its stage label."""
        if not isinstance(x, np.ndarray) or x.ndim != 4 or x.dtype != np.float32 or x.shape[1] != self.input_slot.count:
            raise ShapeError(f"graph input: expected float32 N x {self.input_slot.count} x H x W, got "
                             f"{getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}")
        buffers, steps = self._planned(*x.shape[:1], *x.shape[2:])
        self.view(buffers, self.input_slot).interior[...] = x
        if timings is None:
            for _, step in steps:
                step()
        else:
            for stage, step in steps:
                t0 = time.perf_counter()
                step()
                timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t0
        return {name: BufferView(a, self.borders[name], Slot(name, 0, a.shape[1])).interior for name, a in buffers.items()
                if self.keep is None or name in self.keep}
