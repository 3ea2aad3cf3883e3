import numpy as np
import pytest
from conftest import assert_close

from nnlite import ShapeError
from nnlite.graph import Conv2d, Graph, MaxPool2d, Node, ResizeBilinear, Slot, Softmax
from nnlite.ops.conv2d import conv2d_reference
from nnlite.ops.max_pool2d import max_pool2d_reference
from nnlite.ops.resize_bilinear import resize_bilinear_reference
from nnlite.ops.softmax import softmax_reference


def tiny_dense_graph(rng):
    """input 3 -> [conv s2 (5) | pool (3)] -> dense conv d2 (4) -> head conv on the new channels -> x2 -> softmax."""
    w0 = (rng.standard_normal((5, 3, 3, 3)) / 5).astype(np.float32)
    w1 = (rng.standard_normal((4, 8, 3, 3)) / 8).astype(np.float32)
    w2 = (rng.standard_normal((2, 4, 3, 3)) / 6).astype(np.float32)
    b = lambda k: rng.standard_normal(k).astype(np.float32)
    b0, b1, b2 = b(5), b(4), b(2)
    nodes = [Node(Conv2d(w0, b0, stride=2, padding=1, relu=True), (Slot("x", 0, 3),), Slot("dense", 0, 5)),
             Node(MaxPool2d(2), (Slot("x", 0, 3),), Slot("dense", 5, 3)),
             Node(Conv2d(w1, b1, padding=2, dilation=2, relu=True), (Slot("dense", 0, 8),), Slot("dense", 8, 4)),
             Node(Conv2d(w2, b2, padding=1), (Slot("dense", 8, 4),), Slot("half", 0, 2)),
             Node(ResizeBilinear(scale_factor=2), (Slot("half", 0, 2),), Slot("full", 0, 2)),
             Node(Softmax(), (Slot("full", 0, 2),), Slot("out", 0, 2))]
    graph = Graph({"x": 3, "dense": 12, "half": 2, "full": 2, "out": 2}, nodes, Slot("x", 0, 3))

    def reference(x):
        dense = np.concatenate([conv2d_reference(x, w0, b0, 2, 1, 1, True), max_pool2d_reference(x, 2)], 1)
        dense = np.concatenate([dense, conv2d_reference(dense, w1, b1, 1, 2, 2, True)], 1)
        half = conv2d_reference(dense[:, 8:], w2, b2, 1, 1)
        return softmax_reference(resize_bilinear_reference(half, scale_factor=2))

    return graph, reference


def test_graph_matches_op_by_op_reference(rng):
    graph, reference = tiny_dense_graph(rng)
    for shape in [(1, 3, 10, 8), (2, 3, 6, 12), (1, 3, 10, 8)]:
        x = rng.standard_normal(shape).astype(np.float32)
        assert_close(graph.forward(x)["out"], reference(x), 1e-5, f"graph {shape}")


def test_buffers_are_reused_for_the_same_size(rng):
    graph, _ = tiny_dense_graph(rng)
    x = rng.standard_normal((1, 3, 10, 8)).astype(np.float32)
    first = graph.forward(x)["out"]
    pointer = first.__array_interface__["data"][0]
    second = graph.forward(x * 2)["out"]
    assert second.__array_interface__["data"][0] == pointer
    assert len(graph._plans) == 1
    assert graph.borders == {"x": 1, "dense": 2, "half": 0, "full": 0, "out": 0}


def test_shape_errors_at_the_boundaries(rng):
    graph, _ = tiny_dense_graph(rng)
    with pytest.raises(ShapeError, match="written at"):
        graph.forward(rng.standard_normal((1, 3, 9, 8)).astype(np.float32))  # odd height: conv and pool disagree
    with pytest.raises(ShapeError, match="graph input"):
        graph.forward(rng.standard_normal((1, 4, 10, 8)).astype(np.float32))
    with pytest.raises(ShapeError, match="cannot map"):
        Graph({"x": 3, "y": 2}, [Node(Conv2d(np.zeros((2, 4, 3, 3), np.float32)), (Slot("x", 0, 3),), Slot("y", 0, 2))], Slot("x", 0, 3))
    with pytest.raises(ShapeError, match="outside its buffer"):
        Graph({"x": 3, "y": 2}, [Node(Softmax(), (Slot("x", 0, 3),), Slot("y", 0, 3))], Slot("x", 0, 3))
