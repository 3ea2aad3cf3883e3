"""Numba when it is there, plain Python otherwise.

Termux (Android) has no Numba, and NNLITE_DISABLE_NUMBA=1 forces the same path here so that CI
checks it: every op then runs its vectorised NumPy implementation instead of its Numba kernel.
"""
from __future__ import annotations

import os

USE_NUMBA = False
if os.environ.get("NNLITE_DISABLE_NUMBA", "") not in ("1", "true", "yes"):
    try:
        import numba

        USE_NUMBA = True
    except ImportError:
        pass


_kernels = {"on": USE_NUMBA}


def kernels_on() -> bool:
    """Whether ops run their Numba kernels now: Numba is there and use_kernels did not turn them off."""
    return _kernels["on"]


def use_kernels(on: bool) -> None:
    """Numba kernels (on, where Numba is installed) or the NumPy paths (off) for the calls that follow.

    Why a switch: the kernels take 20-40 s to compile on a machine's first run and the NumPy paths
    none, at 10-20x their time per image; the command line runs its first images on the NumPy
    paths while another process compiles the kernels into Numba's cache (matting/warmup.py).
    Graphs plan again when this changes (nnlite.graph keys its plans by it)."""
    _kernels["on"] = bool(on) and USE_NUMBA


def _allow_512_bit_vectors() -> bool:
    """LLVM tunes AVX-512 Intel cores to prefer 256-bit vectors (older Xeons lose clock speed on
    wider ones); the wide conv kernel ran 15-25 % faster with full-width vectors in bench.ops when
    freshly compiled, and the lanes kernel needs them (see VECTORS_512_BIT). Numba
    builds its code generator lazily at the first compile, from numba.config.CPU_FEATURES, so
    setting that here takes effect, unless the user chose NUMBA_CPU_NAME/NUMBA_CPU_FEATURES or
    NNLITE_PREFER_256_BIT=1. Returns whether the kernels get 512-bit vectors."""
    if numba.config.CPU_NAME or numba.config.CPU_FEATURES or os.environ.get("NNLITE_PREFER_256_BIT") == "1":
        return False
    from llvmlite import binding

    features = binding.get_host_cpu_features().flatten()
    if "+avx512f" in features.split(","):
        numba.config.CPU_FEATURES = features + ",-prefer-256-bit"
        return True
    return False


# The conv "lanes" kernel keeps 16 pixels x 16 channels of sums in registers, which takes 16 of the
# 32 registers of AVX-512; with 256-bit (AVX2) or 128-bit (NEON) vectors the same sums need 32 or 64
# registers and spill, so there the conv uses its wide kernel instead.
VECTORS_512_BIT = USE_NUMBA and _allow_512_bit_vectors()


def njit(parallel: bool = False, fastmath: bool = False, inline: str = "never"):
    """numba.njit(cache=True, ...) or, without Numba, the undecorated function (never called then).
    inline="always" inlines a helper into its callers in Numba's own IR: a helper that takes an
    array then costs no call and no reference counting inside the caller's loops."""
    if not USE_NUMBA:
        return lambda function: function
    return numba.njit(cache=True, nogil=True, parallel=parallel, fastmath=fastmath, inline=inline)


if USE_NUMBA:
    prange = numba.prange
else:
    prange = range


if USE_NUMBA:
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.core.errors import RequireLiteralValue
    from numba.extending import intrinsic

    @intrinsic
    def stack_floats(typingctx, count):
        """A float32 pointer to `count` (a literal) values on the stack of the calling kernel.

        Why not np.empty: LLVM cannot tell a heap array from the kernel's inputs, so it loads and
        stores an accumulator array around every multiply-add; a stack buffer that never escapes
        it may keep in registers for a whole loop nest (wrap it with numba.carray)."""
        if not isinstance(count, types.IntegerLiteral):
            raise RequireLiteralValue(count)

        def codegen(context, builder, signature, args):
            return cgutils.alloca_once(builder, context.get_data_type(types.float32),
                                       size=context.get_constant(types.intp, count.literal_value))

        return types.CPointer(types.float32)(count), codegen

    @intrinsic
    def prefetch(typingctx, array, index):
        """Asks the CPU to start loading array[index] (a 1-D C array, uint64 index) into the
        caches; no effect on results. For loops that walk many planes at once, more streams than
        the hardware prefetcher follows."""
        if not (isinstance(array, types.Array) and array.ndim == 1 and isinstance(index, types.Integer)):
            return None

        def codegen(context, builder, signature, args):
            ary = context.make_array(signature.args[0])(context, builder, args[0])
            pointer = builder.gep(ary.data, [args[1]])
            raw = builder.bitcast(pointer, cgutils.voidptr_t)
            i32 = lambda v: context.get_constant(types.int32, v)
            function = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t, ir.IntType(32), ir.IntType(32), ir.IntType(32)]),
                "llvm.prefetch.p0i8")
            builder.call(function, [raw, i32(0), i32(3), i32(1)])
            return context.get_dummy_value()

        return types.none(array, index), codegen

    @intrinsic
    def float32_from_bits(typingctx, bits):
        """The float32 whose IEEE-754 bit pattern is the low 32 bits of the integer `bits`: how a
        vectorised exp builds 2**n (LLVM turns it into a vector shift, no memory round trip)."""
        if not isinstance(bits, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            value = args[0]
            if value.type.width > 32:
                value = builder.trunc(value, ir.IntType(32))
            elif value.type.width < 32:
                value = builder.sext(value, ir.IntType(32))
            return builder.bitcast(value, ir.FloatType())

        return types.float32(bits), codegen

    ROW = 16  # values per store_bias_act_row call: one row of a 16-pixel block

    @intrinsic
    def store_bias_act_row(typingctx, out, out_index, sums, sums_index, bias, skip, skip_index, has_skip, code):
        """out[out_index: +16] = act(sums[sums_index: +16] + bias [+ skip[skip_index: +16]]) for the
        activation codes 0 (none), 1 (relu) and 2 (hardswish), as 16-wide vector IR (two AVX2 or four
        NEON vectors after LLVM legalises it). Arrays are C-contiguous float32; sums may be 2-D (its
        flat index is given). The skip row is always read (point it at out when has_skip is False).

        Why: a 16-iteration loop written in Numba is unrolled before LLVM's loop vectoriser sees it
        and its SLP vectoriser then leaves it scalar (it cannot tell the stack sums from the output),
        so the kernels' block write-out took more time than their multiply-adds."""
        arrays = (out, sums, skip)
        if not all(isinstance(a, types.Array) and a.dtype == types.float32 for a in arrays):
            return None

        def codegen(context, builder, signature, args):
            out_v, out_i, sums_v, sums_i, bias_v, skip_v, skip_i, has_skip_v, code_v = args
            f32 = ir.FloatType()
            vec = ir.VectorType(f32, ROW)

            def row_pointer(array_type, value, index):
                data = context.make_array(array_type)(context, builder, value).data
                return builder.bitcast(builder.gep(data, [index]), vec.as_pointer())

            def splat(value):
                v = ir.Constant(vec, ir.Undefined)
                for lane in range(ROW):
                    v = builder.insert_element(v, value, ir.Constant(ir.IntType(32), lane))
                return v

            fast = ("fast",)
            v = builder.fadd(builder.load(row_pointer(signature.args[2], sums_v, sums_i), align=4), splat(bias_v), flags=fast)
            with_skip = builder.fadd(v, builder.load(row_pointer(signature.args[5], skip_v, skip_i), align=4), flags=fast)
            v = builder.select(has_skip_v, with_skip, v)
            zero, three, six = (ir.Constant(vec, [ir.Constant(f32, c)] * ROW) for c in (0.0, 3.0, 6.0))
            relu = builder.select(builder.fcmp_ordered(">", v, zero), v, zero)
            shifted = builder.fadd(v, three, flags=fast)
            clamped = builder.select(builder.fcmp_ordered(">", shifted, zero), shifted, zero)
            clamped = builder.select(builder.fcmp_ordered("<", clamped, six), clamped, six)
            hardswish = builder.fmul(builder.fmul(v, clamped, flags=fast),
                                     ir.Constant(vec, [ir.Constant(f32, 1 / 6)] * ROW), flags=fast)
            code_type = code_v.type
            result = builder.select(builder.icmp_signed("==", code_v, ir.Constant(code_type, 1)), relu,
                                    builder.select(builder.icmp_signed("==", code_v, ir.Constant(code_type, 2)), hardswish, v))
            builder.store(result, row_pointer(signature.args[0], out_v, out_i), align=4)
            return context.get_dummy_value()

        return types.none(out, out_index, sums, sums_index, bias, skip, skip_index, has_skip, code), codegen

    carray = numba.carray
else:
    stack_floats = carray = prefetch = float32_from_bits = store_bias_act_row = None


def set_num_threads(threads: int) -> None:
    """Threads for the parallel kernels; NumPy's own BLAS threads are left to the environment."""
    if USE_NUMBA:
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def get_num_threads() -> int:
    return numba.get_num_threads() if USE_NUMBA else 1


class CompileWatch:
    """Tells when Numba compiles a kernel rather than loading it from its cache (the first run on a
    machine, or after an upgrade): `on_first(name)` is called once, at the first compile, so a
    command line can say why it is quiet; `seconds` and `kernels` say what the compiles cost.
    Numba fires its "numba:compile" event only on cache misses, so a warm run reports nothing."""

    def __init__(self, on_first=None):
        self.on_first, self.kernels, self.seconds = on_first, [], 0.0
        self._depth, self._started = 0, 0.0
        if USE_NUMBA:
            from numba.core import event

            watch = self

            class _Listener(event.Listener):
                def on_start(self, ev):
                    import time

                    if watch._depth == 0:
                        watch._started = time.perf_counter()
                    watch._depth += 1
                    name = getattr(ev.data.get("dispatcher"), "__name__", "?")
                    if not watch.kernels and watch.on_first is not None:
                        watch.on_first(name)
                    watch.kernels.append(name)

                def on_end(self, ev):
                    import time

                    watch._depth -= 1
                    if watch._depth == 0:
                        watch.seconds += time.perf_counter() - watch._started

            self._listener = _Listener()
            event.register("numba:compile", self._listener)

    def close(self):
        if USE_NUMBA:
            from numba.core import event

            event.unregister("numba:compile", self._listener)
