"""Convolution and pooling over the channel-first layout: [C, L] for 1d, [C, H, W] for 2d."""

from __future__ import annotations

from torch import nn

from .dims import is_known, product
from .registry import Arg, BlockSpec, Construct, Family, ShapeError, block
from .shape_rules import known_size

CONV = Family(
    "conv", "#c7e9c0", "Convolutions and pooling over channel-first signals and images.", paper="LeCun et al. 1998"
)

_SAME = "same"


def _tuple(value, n: int, name: str) -> tuple:
    """An int or a list of n ints as an n-tuple."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ShapeError(f"{name} needs {n} value{'s' if n > 1 else ''}, got {len(value)}: {list(value)}")
        return tuple(value)
    return (value,) * n


def _spatial_out(size, kernel: int, stride: int, pad: int, dilation: int):
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def _ceil_out(size, kernel: int, stride: int, pad: int):
    """Pooling's output size with ceil_mode: windows are counted rounding up, but the last one must
    start inside the input or its left padding (PyTorch's rule), else it is dropped."""
    if is_known(size) and size + 2 * pad < kernel:
        raise ShapeError(
            f"the window does not fit: a spatial size of {size} with pad {pad} is below the window {kernel}"
        )
    out = (size + 2 * pad - kernel + stride - 1) // stride + 1
    if is_known(size):
        return out - 1 if (out - 1) * stride >= size + pad else out
    if stride > kernel - pad:  # only then can the last window start past the input: its size decides
        raise ShapeError(
            f"ceil = true with stride {stride} > window {kernel} - pad {pad} needs a known size, got '{size}'",
            "give that dimension a number in the input type",
        )
    return out


def _check_input(inputs, n: int):
    x = inputs[0]
    if x.rank != n + 1:
        layout = "[C, L]" if n == 1 else "[C, H, W]"
        hint = "transpose a [seq, d] sequence to [d, seq] first: transpose(0, 1)" if n == 1 and x.rank == 2 else None
        raise ShapeError(f"expects a channel-first {layout} input, got {x}", hint)
    return known_size(x.dims[0], "the channel (first) dimension"), x.dims[1:]


class _Geometry:
    """Kernel, stride, padding and dilation of one conv or pool call, normalised to n-tuples."""

    def __init__(self, a, kernel, n: int, stride_default=None):
        self.kernel = _tuple(kernel, n, "kernel")
        stride = a.stride if a.stride is not None else (stride_default or self.kernel)
        self.stride = _tuple(stride, n, "stride")
        self.dilation = _tuple(getattr(a, "dilation", 1), n, "dilation")
        for what, values in (("kernel", self.kernel), ("stride", self.stride), ("dilation", self.dilation)):
            if any(v < 1 for v in values):
                raise ShapeError(f"{what} must be at least 1, got {list(values)}")
        if a.pad == _SAME:
            if any(s != 1 for s in self.stride):
                raise ShapeError("pad = same needs stride 1", "use a numeric pad with strides above 1")
            self.pad = _SAME
        else:
            self.pad = _tuple(a.pad, n, "pad")
            if any(p < 0 for p in self.pad):
                raise ShapeError(f"pad must not be negative, got {list(self.pad)}")

    def out_sizes(self, sizes) -> list:
        if self.pad == _SAME:
            return list(sizes)
        out = [
            _spatial_out(s, k, st, p, d)
            for s, k, st, p, d in zip(sizes, self.kernel, self.stride, self.pad, self.dilation)
        ]
        for size, o in zip(sizes, out):
            if isinstance(o, int) and o < 1:
                raise ShapeError(
                    f"the kernel does not fit: a spatial size of {size} gives an output of {o}",
                    "use a smaller kernel, padding, or a larger input",
                )
        return out

    def kwargs(self) -> dict:
        def one(t):
            return t[0] if len(set(t)) == 1 else t

        pad = self.pad if self.pad == _SAME else one(self.pad)
        return {
            "kernel_size": one(self.kernel),
            "stride": one(self.stride),
            "padding": pad,
            "dilation": one(self.dilation),
        }


def _conv_args(transposed: bool = False) -> tuple[Arg, ...]:
    pad_doc = "zero padding per side" + ("" if transposed else ", or `same` (stride 1) to keep the size")
    args = [
        Arg("out", "int", doc="output channels", low=1),
        Arg("kernel", "ints", doc="kernel size: an int or one per spatial dim", low=1),
        Arg("stride", "ints", 1, "step between applications", low=1),
        Arg("pad", "ints", 0, pad_doc, choices=() if transposed else (_SAME,)),
    ]
    if transposed:
        args.append(Arg("output_pad", "ints", 0, "extra size added to one side of the output", low=0))
    args += [
        Arg("dilation", "ints", 1, "spacing between kernel taps", low=1),
        Arg("groups", "int", 1, "channel groups; must divide in and out channels", low=1),
        Arg("bias", "bool", True, "add a learned bias per output channel"),
    ]
    return tuple(args)


def _conv(n: int, transposed: bool) -> BlockSpec:
    name = f"conv_transpose{n}d" if transposed else f"conv{n}d"
    module_class = {
        (1, False): nn.Conv1d,
        (2, False): nn.Conv2d,
        (1, True): nn.ConvTranspose1d,
        (2, True): nn.ConvTranspose2d,
    }[n, transposed]

    def check(inputs, a):
        channels, sizes = _check_input(inputs, n)
        for what, count in (("input", channels), ("output", a.out)):
            if count % a.groups:
                raise ShapeError(f"groups = {a.groups} must divide the {count} {what} channels")
        geometry = _Geometry(a, a.kernel, n, stride_default=(1,) * n)
        if transposed:
            output_pad = _tuple(a.output_pad, n, "output_pad")
            out = [
                (s - 1) * st - 2 * p + d * (k - 1) + op + 1
                for s, st, p, d, k, op in zip(
                    sizes, geometry.stride, geometry.pad, geometry.dilation, geometry.kernel, output_pad
                )
            ]
        else:
            out = geometry.out_sizes(sizes)
        return channels, geometry, out

    def shape(inputs, a):
        _, _, out = check(inputs, a)
        return inputs[0].with_dims([a.out, *out])

    def params(inputs, a):
        channels, geometry, _ = check(inputs, a)
        return a.out * (channels // a.groups) * product(geometry.kernel) + (a.out if a.bias else 0)

    def flops(inputs, output, a):
        channels, geometry, out = check(inputs, a)
        macs_per_position = channels * (a.out // a.groups) * product(geometry.kernel)
        positions = product(inputs[0].dims[1:]) if transposed else product(out)  # where the kernel is applied
        return 2 * macs_per_position * positions

    def module(inputs, a):
        channels, geometry, _ = check(inputs, a)
        kwargs = {
            "in_channels": channels,
            "out_channels": a.out,
            **geometry.kwargs(),
            "groups": a.groups,
            "bias": a.bias,
        }
        if transposed:
            kwargs["output_padding"] = a.output_pad
        return Construct(module_class, kwargs)

    kind = "transposed convolution (fractionally strided; Dumoulin & Visin 2016)" if transposed else "convolution"
    layout = "[C, L] -> [out, L']" if n == 1 else "[C, H, W] -> [out, H', W']"
    doc = f"{n}-D {kind} over the channel-first layout, with {module_class.__name__}'s layout.\n\nShapes: {layout}."
    return block(
        name,
        family="conv",
        doc=doc,
        args=_conv_args(transposed),
        params=params,
        flops=flops,
        module=module,
        example=(
            "[3, 9]" if n == 1 else "[3, 7, 9]",
            f"{name}(4, 3, stride = 2, pad = 1)" if transposed else f"{name}(4, 3, pad = same)",
        ),
    )(shape)


def _pool(n: int, kind: str) -> BlockSpec:
    name = f"{kind}pool{n}d"
    module_class = {
        ("max", 1): nn.MaxPool1d,
        ("max", 2): nn.MaxPool2d,
        ("avg", 1): nn.AvgPool1d,
        ("avg", 2): nn.AvgPool2d,
    }[kind, n]
    args = (
        Arg("k", "ints", doc="window size: an int or one per spatial dim", low=1),
        Arg("stride", "ints", None, "step between windows (default: the window size)", low=1),
        Arg("pad", "ints", 0, "implicit padding per side; at most half the window", low=0),
        Arg("ceil", "bool", False, "round the output size up: a last, partial window is kept (ceil_mode)"),
    )

    def geometry(inputs, a):
        _check_input(inputs, n)
        g = _Geometry(a, a.k, n)
        if any(p * 2 > k for p, k in zip(g.pad, g.kernel)):
            raise ShapeError(f"pad must be at most half the window, got pad {list(g.pad)} for window {list(g.kernel)}")
        return g

    def shape(inputs, a):
        g = geometry(inputs, a)
        sizes = inputs[0].dims[1:]
        out = [_ceil_out(*w) for w in zip(sizes, g.kernel, g.stride, g.pad)] if a.ceil else g.out_sizes(sizes)
        return inputs[0].with_dims([inputs[0].dims[0], *out])

    def module(inputs, a):
        kwargs = geometry(inputs, a).kwargs()
        kwargs.pop("dilation")
        if a.ceil:
            kwargs["ceil_mode"] = True
        return Construct(module_class, kwargs)

    word = "maximum" if kind == "max" else "average"
    layout = "[C, L] -> [C, L']" if n == 1 else "[C, H, W] -> [C, H', W']"
    doc = f"{n}-D {word} pooling over windows of each channel ({module_class.__name__}).\n\nShapes: {layout}."
    return block(
        name,
        family="conv",
        doc=doc,
        args=args,
        module=module,
        flops=lambda inputs, out, a: product(out.dims) * product(_tuple(a.k, n, "k")),
        example=(
            "[3, 9]" if n == 1 else "[3, 7, 9]",
            f"{name}(2, ceil = true)" if kind == "max" else f"{name}(3, stride = 2, pad = 1)",
        ),
    )(shape)


def _adaptive_pool(n: int) -> BlockSpec:
    module_class = nn.AdaptiveAvgPool1d if n == 1 else nn.AdaptiveAvgPool2d

    def sizes(a):
        size = _tuple(a.size, n, "size")
        if any(s < 1 for s in size):
            raise ShapeError(f"size must be at least 1, got {list(size)}")
        return size

    def shape(inputs, a):
        _check_input(inputs, n)
        return inputs[0].with_dims([inputs[0].dims[0], *sizes(a)])

    def module(inputs, a):
        size = sizes(a)
        return Construct(module_class, {"output_size": size[0] if n == 1 else size})

    layout = "[C, L] -> [C, size]" if n == 1 else "[C, H, W] -> [C, h, w]"
    return block(
        f"adaptive_avgpool{n}d",
        family="conv",
        doc=f"Averages each channel over windows chosen to give a fixed output size ({module_class.__name__}).\n\n"
        f"Shapes: {layout}.",
        args=(Arg("size", "ints", doc="output size: an int or one per spatial dim", low=1),),
        module=module,
        flops=lambda inputs, out, a: product(inputs[0].dims),
        example=("[3, 9]" if n == 1 else "[3, 7, 9]", f"adaptive_avgpool{n}d({2 if n == 1 else [2, 3]})"),
    )(shape)


for _n in (1, 2):
    _conv(_n, transposed=False)
    _conv(_n, transposed=True)
    _pool(_n, "max")
    _pool(_n, "avg")
    _adaptive_pool(_n)
